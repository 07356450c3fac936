"""Where a run's compile time goes: Numba's compile events over train.py's compile step.

    python perf/compile_profile.py [--empty-cache] [--train-args="-o adam -a tanh"] [--top 25]
                                   [--passes]

Runs ``train.py`` (the default command, plus ``--train-args``) up to the end of its compile
step and prints each compiled function's own seconds (without the functions it compiled
along the way), the largest first, and the total; with ``--passes``, also each of Numba's
compiler passes' own seconds summed over all functions (lowering includes LLVM's
optimization and machine code), and how much of the whole was LLVM's: its optimization
passes and its machine code (llvmlite's pass managers and Numba's ``finalize_object``, timed
around the calls), the rest being Numba's own work in Python. ``--empty-cache`` points Numba
at a new, empty cache folder (``NUMBA_CACHE_DIR``) for this process: a first run on a new machine,
without touching the cache of the checkout. Without it, a warm cache shows what a later run
still compiles.
"""

import argparse
import os
import shlex
import sys
import tempfile
import time


class _Compiled(Exception):
    """Raised where the first epoch would start: the compile step is over."""


def _function_name(event):
    func = event.data["dispatcher"].py_func
    return f"{func.__module__}.{func.__qualname__}"


def _pass_name(event):
    return event.data["name"].split(" [")[0]  # "native_lowering [forward]" -> the pass


def own_times(buffer, name_of=_function_name):
    """``{name: (own seconds, count)}`` from a recorder's nested events (``numba:compile``,
    named by function; ``numba:run_pass`` with ``name_of=_pass_name``, by pass)."""
    stack, own = [], {}
    for stamp, event in buffer:
        name = name_of(event)
        if event.is_start:
            stack.append([name, stamp, 0.0])
            continue
        name, start, children = stack.pop()
        seconds = stamp - start
        total, count = own.get(name, (0.0, 0))
        own[name] = (total + seconds - children, count + 1)
        if stack:
            stack[-1][2] += seconds
    return own


class _LLVMClock:
    """Seconds spent inside llvmlite's pass managers and code generation, by wrapping them
    for the duration of a ``with`` block."""

    def __init__(self):
        self.seconds = {"optimization": 0.0, "machine code": 0.0}

    def _timed(self, function, what):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[what] += time.perf_counter() - start

        return wrapper

    def __enter__(self):
        from llvmlite.binding import newpassmanagers
        from numba.core import codegen

        self._patched = [
            (newpassmanagers.NewPassManager, "run", "optimization"),
            (codegen.JitEngine, "finalize_object", "machine code"),  # its own proxy of llvmlite's
        ]
        self._originals = []
        for owner, name, what in self._patched:
            original = getattr(owner, name)
            self._originals.append(original)
            setattr(owner, name, self._timed(original, what))
        return self

    def __exit__(self, *exc):
        for (owner, name, _), original in zip(self._patched, self._originals):
            setattr(owner, name, original)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--empty-cache", action="store_true", help="compile as on a new machine")
    parser.add_argument("--train-args", default="", help="train.py settings besides -e 1")
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    parser.add_argument("--passes", action="store_true", help="also the compiler passes' times")
    args = parser.parse_args(argv)
    if args.empty_cache:  # before Numba is imported: it reads the variable once
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="nbnet-numba-cache-")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from numba.core import event

    import train
    from experiments import training

    def stop(*_args, **_kwargs):
        raise _Compiled

    training.EpochSteps.run = stop
    command = ["-e", "1", "--wandb_mode", "disabled", "-q", *shlex.split(args.train_args)]
    start = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as runs,
        event.install_recorder("numba:compile") as rec,
        event.install_recorder("numba:run_pass") as passes,
        _LLVMClock() as llvm,
    ):
        try:
            train.main([*command, "--runs_dir", runs])
        except _Compiled:
            pass
    seconds = time.perf_counter() - start
    own = own_times(rec.buffer)
    rows = sorted(((s, n, name) for name, (s, n) in own.items()), reverse=True)
    cache = "empty" if args.empty_cache else "the checkout's"
    print(f"train.py {' '.join(command)}: {len(own)} functions compiled, cache {cache}\n")
    print("| function | own s | compiles |\n|---|---|---|")
    for s, n, name in rows[: args.top]:
        print(f"| {name} | {s:.2f} | {n} |")
    print(f"| all {len(own)} | {sum(s for s, _, _ in rows):.2f} | |")
    print(f"\nto the end of the compile step: {seconds:.1f} s (data loading included)")
    if args.passes:
        by_pass = own_times(passes.buffer, _pass_name)
        print("\n| compiler pass | own s |\n|---|---|")
        for name, (s, _) in sorted(by_pass.items(), key=lambda item: -item[1][0])[: args.top]:
            print(f"| {name} | {s:.2f} |")
        total = sum(s for s, _, _ in rows)
        optimized, coded = llvm.seconds["optimization"], llvm.seconds["machine code"]
        print(
            f"\nof the {total:.2f} s: LLVM's optimization {optimized:.2f} s, its machine code "
            f"{coded:.2f} s, Numba's own work in Python {total - optimized - coded:.2f} s"
        )


if __name__ == "__main__":
    main()
