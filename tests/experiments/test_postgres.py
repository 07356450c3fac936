"""Sweeps on a real PostgreSQL server, as several machines run one: two sweep.py processes
share a study; one of them is killed with SIGKILL mid-trial and the other retries its trial."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

import sweep as sweep_cli
from experiments.sweeps.storage import GRACE_S
from experiments.sweeps.trials import counted
from tests import postgres
from tests.synthetic import write_dataset

pytestmark = pytest.mark.skipif(
    postgres.unavailable() is not None, reason=postgres.unavailable() or "available"
)

SPEC = {
    "method": "random",
    "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "hidden_size": {"value": 8},
        "epochs": {"value": 2},
    },
}


@pytest.fixture(scope="module")
def server():
    with postgres.server() as url:
        yield url


@pytest.fixture
def folder(tmp_path):
    write_dataset(tmp_path / "data")
    return tmp_path


def _machine(folder, url, name, count, spec=SPEC, label="a"):
    """One `sweep.py` process, standing in for one machine of the sweep."""
    spec_path = folder / f"{name}.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    command = [sys.executable, str(Path(sweep_cli.__file__)), str(spec_path)]
    command += ["--storage", url, "--name", name, "--count", str(count), "--workers", "1"]
    command += ["--data_dir", str(folder / "data"), "--mode", "disabled"]
    command += ["--out", str(folder / f"report-{label}")]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _study(url, name):
    return optuna.load_study(study_name=name, storage=url.replace("://", "+psycopg://", 1))


def test_two_machines_share_one_study_and_the_count_adds_up(server, folder):
    machines = [_machine(folder, server, "shared", 8, label=label) for label in "ab"]
    outputs = [m.communicate(timeout=600)[0] for m in machines]
    assert [m.returncode for m in machines] == [0, 0], outputs
    trials = _study(server, "shared").trials
    kept = [t for t in trials if counted(t)]
    assert len(kept) == 8, [(t.number, t.state.name, t.user_attrs) for t in trials]
    assert len({t.params["learning_rate"] for t in kept}) == 8, "a trial was trained twice"
    # Any trial begun after the study was full is marked surplus, and each machine waited
    # for the other's trials before writing its report, which counts all of them.
    assert all(t.user_attrs.get("surplus") for t in trials if not counted(t))
    for label in "ab":
        best = json.loads((folder / f"report-{label}" / "best.json").read_text())
        assert best["trials"] == best["completed"] == 8


def test_a_machine_killed_mid_trial_leaves_its_trial_to_the_other(server, folder):
    """SIGKILL of one machine: its trial stays RUNNING until its heartbeat is stale, then the
    other machine's sweep marks it failed and trains it again (a retry, not a loss)."""
    slow = {**SPEC, "parameters": {**SPEC["parameters"], "epochs": {"value": 2000}}}
    # One trial: the second machine has nothing to do but wait for the first one's.
    first = _machine(folder, server, "killed", 1, slow, "a")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            running = [t for t in _study(server, "killed").trials if t.state.name == "RUNNING"]
        except KeyError:  # the study is not created yet
            continue
        if running:
            break
    else:
        first.kill()
        pytest.fail("the first machine never started a trial")
    time.sleep(1)  # past the first heartbeat
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    (killed,) = [t for t in _study(server, "killed").trials if t.state.name == "RUNNING"]
    second = _machine(folder, server, "killed", 1, slow, "b")
    out = second.communicate(timeout=600 + GRACE_S)[0]
    assert second.returncode == 0, out
    assert "waiting for 1 trial(s) running in other processes" in out
    trials = _study(server, "killed").trials
    killed = trials[killed.number]
    assert killed.state.name == "FAIL" and not counted(killed)
    retry = [t for t in trials if t.user_attrs.get("retry_of") == killed.number]
    assert len(retry) == 1 and retry[0].params == killed.params and counted(retry[0])
    assert sum(counted(t) for t in trials) == 1
