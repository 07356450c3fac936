"""A throwaway PostgreSQL server for the tests: initdb and pg_ctl into a temporary folder,
listening on a free port of 127.0.0.1 only, stopped and deleted afterwards."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _binary(name):
    """``name`` on PATH, else in Debian's /usr/lib/postgresql/<version>/bin (newest first)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(f"{folder}/{name}", os.X_OK):
            return f"{folder}/{name}"
    return None


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unavailable():
    """Why no server can be started here (None when one can)."""
    if not (_binary("initdb") and _binary("pg_ctl")):
        return "PostgreSQL's initdb and pg_ctl are not installed (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return 'the PostgreSQL driver is not installed (pip install -e ".[postgres]")'
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
    return None


@contextmanager
def server():
    """Start a server; yields its URL (user ``nbnet``, database ``postgres``, no password)."""
    folder = Path(tempfile.mkdtemp(prefix="nbnet-postgres-"))
    run_as = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    try:
        subprocess.run(
            [*run_as, _binary("initdb"), "-D", str(data), "-A", "trust", "-U", "nbnet"],
            check=True,
            capture_output=True,
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*run_as, _binary("pg_ctl"), "-D", str(data), "-l", str(folder / "log")]
            + ["-o", options, "-w", "start"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://nbnet@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, _binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)
