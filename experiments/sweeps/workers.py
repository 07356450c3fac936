"""A sweep on this machine: worker processes sharing one study, each pinned to its cores.

Each worker dies with the sweep's process (Linux's parent-death signal), so a stopped
sweep takes its workers along and resumes later without losing or repeating a trial.
"""

import ctypes
import multiprocessing
import os
import signal
import sys

import optuna

from .. import interrupts
from ..data import DataError
from ..threads import set_core_budget, usable_cores
from .spec import load_spec
from .storage import GRACE_S, StorageError, explained, open_study
from .trials import optimize, plan


def _die_with_parent(parent_pid):
    """Ask Linux to send this process SIGTERM when its parent dies (even by SIGKILL), and
    turn SIGTERM into KeyboardInterrupt, so the trial in progress ends as FAIL and is
    retried when the sweep resumes. Elsewhere the workers outlive a killed parent."""
    interrupts.stop_on_sigterm()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    # The parent may have died before prctl took effect; this process then belongs to
    # another (init, or a container's reaper), so compare with the parent it was born to.
    if os.getppid() != parent_pid:
        interrupts.terminate_now()


def core_sets(workers):
    """The cores each of ``workers`` processes is pinned to: this process's usable cores
    split into contiguous, nearly equal groups (one core each when workers >= cores)."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: no affinity, only a budget
        cores = list(range(os.cpu_count() or 1))
    if workers >= len(cores):
        return [[cores[i % len(cores)]] for i in range(workers)]
    bounds = [round(i * len(cores) / workers) for i in range(workers + 1)]
    return [cores[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _pin(cores):
    """Keep this worker, every thread of it (OpenBLAS's pool included), on ``cores``, and
    size its runs' BLAS threads to them, so N workers never start N pools of all cores
    that fight for the machine."""
    set_core_budget(len(cores))
    try:
        for task in os.listdir("/proc/self/task"):
            os.sched_setaffinity(int(task), cores)
    except (AttributeError, OSError):  # no affinity here: the budget alone limits the threads
        pass


def _worker(spec_path, base_config, storage_url, study_name, count, seed, share, parent_pid, cores):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        _die_with_parent(parent_pid)
        _pin(cores)
        optimize(
            load_spec(spec_path), base_config, storage_url, study_name, count, seed, share=share
        )
    except (DataError, StorageError):
        # The parent meets the same error when it trains what is left, and says it in one
        # line; a traceback from every worker would only bury it.
        sys.exit(1)
    except BaseException:
        # Told to stop: the trial in progress is FAIL and will be retried on resume. An
        # interrupt can reach Optuna's own cleanup and come out as another exception.
        if not interrupts.terminated():
            raise


def resolve_workers(workers):
    """``auto`` -> one trial process per usable core; a number passes through."""
    return usable_cores() if workers == "auto" else int(workers)


def run_offline(
    spec_path, base_config, storage_url, study_name, count, workers=1, seed=0, notify=print
):
    """Run the sweep locally with ``workers`` processes sharing one study (``auto``: one per
    usable core, each pinned to its own cores: :func:`core_sets`)."""
    spec = load_spec(spec_path)
    workers = resolve_workers(workers)
    if workers > 1:
        # Planned once, before the workers race: every worker then trains exactly its share,
        # and no more processes start than there are trials left (none: a finished sweep
        # run again, which optimize() below reports).
        with explained(storage_url):
            left = plan(open_study(spec, storage_url, study_name, seed), spec, count)
        workers = min(workers, left)
    if workers <= 1:
        return optimize(spec, base_config, storage_url, study_name, count, seed, notify=notify)
    shares = [left // workers + (i < left % workers) for i in range(workers)]
    cores = core_sets(len(shares))
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_worker,
            args=(
                spec.path,
                base_config,
                storage_url,
                study_name,
                count,
                seed,
                share,
                os.getpid(),
                cores[i],
            ),
        )
        for i, share in enumerate(shares)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        for process in processes:
            process.terminate()
        raise
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        # A worker that crashed or was killed (a traceback, if any, is above) left its
        # share untrained and its trial RUNNING until its heartbeat goes stale.
        notify(
            f"{len(failed)} worker(s) stopped early (exit codes {failed}); training what is "
            f"left in this process (a killed trial is retried once its heartbeat is "
            f"{GRACE_S} s old)"
        )
    study = open_study(spec, storage_url, study_name, seed)
    if failed or plan(study, spec, count):
        # Train what is missing here, so that the sweep never ends short in silence.
        if not failed:
            notify("the workers left trials untrained; training them in this process")
        return optimize(spec, base_config, storage_url, study_name, count, seed, notify=notify)
    return study
