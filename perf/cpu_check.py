"""The one prepared run for a processor not measured before: every figure issue 23 asks for.

    python perf/cpu_check.py [--out DIR] [--smoke]

On a new kind of CPU (the issue's 2-core AMD EPYC above all: Zen 3, or Zen 5 again), this
runs the measurements behind the targets one after the other, each in a child process as a
user runs it, and writes each one's output to ``DIR/<step>.txt`` as soon as it ends (a run
cut short keeps what it measured), then ``DIR/report.md``: every step's command and output,
ready to be read into perf/RESULTS.md by hand. The steps, most telling first:

1. ``machine``: the processor, the libraries, the BLAS nbnet picks and the environment
   variables that steer it (``OPENBLAS_CORETYPE`` among them);
2. ``update``: perf/update.py on one core (the update now and with its own flush);
3. ``one core``, ``all cores``, ``default configuration``: perf/bench_cpu.py against JAX and
   PyTorch at batch 16, 64 and 256, and the shipped default configuration;
4. ``one core, nbnet's kernels``: the one-core table again without ``OPENBLAS_CORETYPE``,
   where the environment pins OpenBLAS's kernels (as the Zen 5 machine's did);
5. ``breakdown``: perf/breakdown.py on one core (where a step's time goes);
6. ``threads``: perf/threads.py (the BLAS thread policy against one thread and every core);
7. ``compile``: the default command's first run with an empty Numba cache and its second run
   (the summary's "compile"), three times.

It takes about 15-20 minutes on 2 cores (``--smoke``: tiny sizes, a minute; the tests run
that). Set ``NBNET_DATA_DIR`` to the Fashion-MNIST folder first, as for every perf script.
"""

import argparse
import datetime
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Printed by the ``machine`` step's child: what decides the products' and the update's speed.
_MACHINE = """
import os, platform, sys
import numba, numpy, scipy
import kernels
from threadpoolctl import threadpool_info
from experiments.threads import load_blas, usable_cores
load_blas()
print("python", platform.python_version(), "numpy", numpy.__version__, "numba",
      numba.__version__, "scipy", scipy.__version__)
print("numba target", numba.config.CPU_NAME or "host", "->", __import__("llvmlite.binding",
      fromlist=["x"]).get_host_cpu_name())
print("nbnet BLAS", kernels.BLAS, "usable cores", usable_cores())
for pool in threadpool_info():
    print("pool", pool.get("internal_api"), pool.get("version"), pool.get("architecture"),
          pool.get("num_threads"), "threads", pool.get("filepath"))
for name in sorted(os.environ):
    if name.startswith(("OPENBLAS", "MKL", "OMP", "NUMBA", "NBNET", "XLA", "GOMP")):
        print(f"{name}={os.environ[name]}")
"""


def steps(smoke):
    """``[(name, argv, environment changes, on one core)]`` of the run; an environment value
    of None removes that variable. Tiny sizes with ``smoke``."""
    py = sys.executable
    sizes = ["--rows", "640", "--batch", "64", "--repeats", "1"]
    bench = [py, "perf/bench_cpu.py", "--no-write", *(sizes if smoke else ["--repeats", "3"])]
    update = ["--params", "1000", "--steps", "2", "--repeats", "1"] if smoke else ["--repeats", "7"]
    breakdown = sizes if smoke else ["--repeats", "5", "--batch", "16", "64", "256"]
    threads = ["--smoke", "--repeats", "1"] if smoke else ["--repeats", "5"]
    plan = [
        ("machine", [py, "-c", _MACHINE], {}, False),
        ("update", [py, "perf/update.py", *update], {}, True),
        ("one core", [*bench, "--threads", "1"], {}, False),  # bench_cpu.py pins itself
        ("all cores", [*bench, "--threads", "all"], {}, False),
        ("default configuration", [*bench, "--workload", "default"], {}, False),
    ]
    if "OPENBLAS_CORETYPE" in os.environ:
        unpinned = {"OPENBLAS_CORETYPE": None}
        plan.append(("one core, nbnet's kernels", [*bench, "--threads", "1"], unpinned, False))
    plan += [
        ("breakdown", [py, "perf/breakdown.py", *breakdown], {}, True),
        ("threads", [py, "perf/threads.py", *threads], {}, False),
    ]
    return plan


def _environment(changes):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _command_line(argv, changes, one_core):
    """How a user would type the step (the machine step's program shown by its name)."""
    words = [f"{k}={v}" for k, v in changes.items() if v is not None]
    words += [f"env -u {k}" for k, v in changes.items() if v is None]
    words += ["taskset -c <last core>"] if one_core else []
    args = ["<machine facts>"] if argv[1] == "-c" else argv[1:]
    return " ".join(words + ["python"] + [shlex.quote(a) for a in args])


def run_step(name, argv, changes, one_core, out, timeout):
    """Run one step, on the last usable core if ``one_core`` (the first is where the
    system's own work tends to land); write its command and output to ``out/<name>.txt``
    and return that text and whether the step ended well."""
    core = max(os.sched_getaffinity(0))
    pin = (lambda: os.sched_setaffinity(0, {core})) if one_core else None
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            cwd=ROOT,
            env=_environment(changes),
            preexec_fn=pin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output, status = done.stdout + done.stderr, f"exit {done.returncode}"
    except subprocess.TimeoutExpired as stopped:
        output = (stopped.stdout or b"").decode() + (stopped.stderr or b"").decode()
        status = f"stopped after {timeout:.0f} s"
    seconds = time.perf_counter() - start
    text = f"$ {_command_line(argv, changes, one_core)}\n({status}, {seconds:.0f} s)\n\n{output}"
    (out / f"{_file_name(name)}.txt").write_text(text)
    return text, status == "exit 0"


def compile_runs(out, smoke, rounds):
    """The default command twice per round, the first with an empty Numba cache: the
    "compile" seconds of each summary, in ``out/compile.txt``. Returns that text and
    whether every run ended well."""
    args = [sys.executable, "train.py", "-e", "1", "--wandb_mode", "disabled"]
    if smoke:
        args += ["--num_layers", "1", "--hidden_size", "16"]
    lines = [f"$ NUMBA_CACHE_DIR=<empty folder> python {' '.join(args[1:])}, then again\n"]
    ok = True
    for round_ in range(rounds):
        cache = tempfile.mkdtemp(prefix="nbnet-cpu-check-cache-")
        env = _environment({"NUMBA_CACHE_DIR": cache})
        seconds = []
        for _ in range(2):
            done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
            found = re.findall(r"compile (\d+(?:\.\d+)?) s", done.stdout)
            ok &= done.returncode == 0 and bool(found)
            seconds.append(
                f"{found[-1]} s" if found else f"exit {done.returncode}: {done.stderr[-300:]}"
            )
        shutil.rmtree(cache, ignore_errors=True)
        lines.append(f"round {round_ + 1}: first run compile {seconds[0]}, second run {seconds[1]}")
        (out / "compile.txt").write_text("\n".join(lines) + "\n")
    return "\n".join(lines) + "\n", ok


def _file_name(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M")
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / f"nbnet-cpu-check-{stamp}"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, about a minute (the tests)"
    )
    parser.add_argument("--timeout", type=float, default=1200, help="seconds a step may run")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report, failed = [f"# perf/cpu_check.py, {stamp}\n"], []
    for name, step_argv, changes, one_core in steps(args.smoke):
        print(f"{name} ...", flush=True)
        text, ok = run_step(name, step_argv, changes, one_core, args.out, args.timeout)
        failed += [] if ok else [name]
        report.append(f"## {name}\n\n```\n{text}```\n")
        (args.out / "report.md").write_text("\n".join(report))
    print("compile ...", flush=True)
    text, ok = compile_runs(args.out, args.smoke, 1 if args.smoke else 3)
    failed += [] if ok else ["compile"]
    report.append(f"## compile\n\n```\n{text}```\n")
    (args.out / "report.md").write_text("\n".join(report))
    print(f"written: {args.out / 'report.md'}")
    if failed:
        sys.exit(
            f"cpu_check: these steps failed, their output is in {args.out}: {', '.join(failed)}"
        )


if __name__ == "__main__":
    main()
