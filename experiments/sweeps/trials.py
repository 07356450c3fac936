"""A sweep's trials: training one, counting them, planning what is left, and this
process's share of them.

Each trial is a normal run logged to W&B (offline unless logged in) with its
hyperparameter name and the sweep's name as its group. The test set is never loaded:
trials read the training files only and are ranked by the validation accuracy of the
model each run ends with (the last epoch's, or the best epoch's when the trial sets
``restore_best``).
"""

import json
import os
import time
import warnings

import optuna
from optuna.trial import TrialState

from ..app.tracking import Tracker
from ..config import run_name
from ..data import DataError, run_data
from ..memory import TooLarge, check_fits
from ..training import Callback, Diverged, build_network, train
from .sampling import encode_choice, suggest
from .storage import GRACE_S, HEARTBEAT_S, explained, fail_trials_without_heartbeat, open_study

#: Trials in a row that may train nothing (re-proposals of a trained configuration, which
#: cost a lookup) before this process stops: a search space smaller than --count.
DUPLICATE_CAP = 10


class _TrialCallback(Callback):
    """Logs each epoch to W&B and to the Optuna trial, and prunes when told to."""

    def __init__(self, tracker, trial):
        self.tracker, self.trial = tracker, trial

    def on_epoch_end(self, metrics):
        self.tracker.log_epoch(metrics)
        if self.trial is not None:
            self.trial.report(metrics["val_accuracy"], metrics["epoch"])
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {metrics['epoch']}")


class TrialRunner:
    """Trains one configuration after another, loading each dataset split once.

    Compiled kernels are shared by all trials of the process: Numba compiles the
    step loop once per optimizer, so the per-trial overhead is the network's
    allocation and the W&B run (measured in the sweep report).
    """

    def __init__(
        self, base_config, sweep_name, wandb_module=None, notify=print, spec=None, count=None
    ):
        self.base = base_config
        self.spec, self.count = spec, count  # count: the study's total, for surplus checks
        self.trained = 0  # trials this runner has started training
        self.full = False  # set when a trial found the study already full
        self.current = None  # the number of the trial in progress
        self.sweep_name = sweep_name
        self.wandb_module = wandb_module
        self.notify = notify
        self._data = {}

    def data(self, config):
        """The trial's :class:`experiments.data.RunData` (never the test set), loaded once per
        dataset and split."""
        key = (config.dataset, config.data_dir, config.val_fraction, config.seed)
        if key not in self._data:
            data = run_data(config, include_test=False)
            if not len(data.y_val):  # every trial's metric would be NaN, retried forever
                raise DataError(
                    f"val_fraction {config.val_fraction:g} of {len(data.y_train)} training "
                    "image(s) is none, and a sweep ranks its trials by validation accuracy; "
                    "use more data"
                )
            if data.dataset.warning:
                self.notify(f"warning: {data.dataset.warning}")
            self._data[key] = data
        return self._data[key]

    def run(self, params, trial=None, tracker=None):
        """Train ``base config + params``; returns ``(config, history)``.

        Raises Diverged, TooLarge (before a W&B run is begun) or optuna.TrialPruned; the
        W&B run is finished either way.
        """
        config = self.base.replace(**params)
        name = run_name(config)
        dataset, x_tr, y_tr, x_val, y_val = self.data(config)
        check_fits(config, dataset.n_features, len(dataset.class_names))
        tracker = tracker or Tracker(
            config,
            name,
            directory=config.wandb_dir,
            group=self.sweep_name,
            wandb_module=self.wandb_module,
            notify=self.notify,
        )
        net = build_network(config, dataset.n_features, len(dataset.class_names))
        if trial is not None:
            trial.set_user_attr("run_name", name)
        exit_code = 1
        try:
            history = train(
                net, config, x_tr, y_tr, x_val, y_val, callback=_TrialCallback(tracker, trial)
            )
            tracker.log_summary(
                {
                    "val_accuracy": history.final_val_accuracy,
                    "best_val_accuracy": history.best["val_accuracy"],
                }
            )
            exit_code = 0
        finally:
            tracker.finish(exit_code=exit_code)
        return config, history

    def objective(self, trial):
        self.current = trial.number
        if self.count is not None and _ahead(trial) >= self.count:
            # Another process (another machine) started the last trials at the same moment:
            # this one would exceed --count. It ends as FAIL, marked, and is not retried.
            trial.set_user_attr("surplus", True)
            self.full = True
            raise Surplus(f"the study already holds {self.count} trials")
        params = suggest(trial, self.spec)
        # TPE often proposes a configuration it already tried; reuse that result
        # instead of training it again (such trials do not count towards --count).
        for earlier in trial.study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
        ):
            if earlier.params == trial.params and "duplicate_of" not in earlier.user_attrs:
                trial.set_user_attr("duplicate_of", earlier.number)
                trial.set_user_attr("run_name", earlier.user_attrs.get("run_name", ""))
                return earlier.value
        start = time.perf_counter()
        self.trained += 1  # counts towards this worker's share, however the trial ends
        try:
            config, history = self.run(params, trial)
        except (Diverged, TooLarge) as exc:
            what = "diverged" if isinstance(exc, Diverged) else "too large for this machine"
            trial.set_user_attr("failure", str(exc))
            self.notify(f"trial {trial.number}: {what} ({exc}); recorded as failed")
            raise
        seconds = time.perf_counter() - start
        train_seconds = sum(m["train_seconds"] for m in history.epochs)
        value = history.final_val_accuracy  # of the model the run ends with
        trial.set_user_attr("seconds", seconds)
        trial.set_user_attr("train_seconds", train_seconds)
        trial.set_user_attr("compile_seconds", history.compile_seconds)
        trial.set_user_attr("blas_threads", history.blas_threads)
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("epochs", history.epochs)  # per-epoch curves, for the report
        self.notify(
            f"trial {trial.number}: val_accuracy {value:.4f} in {seconds:.1f} s  {run_name(config)}"
        )
        return value


class Surplus(RuntimeError):
    """A trial begun when the study already held ``--count`` trials (by other processes)."""


def _ahead(trial):
    """Trials numbered before ``trial`` that count or may still count: counted ones, and
    running ones that are not re-proposals of a trained configuration."""
    return sum(
        1
        for t in trial.study.get_trials(deepcopy=False)
        if t.number < trial.number
        and (counted(t) or (t.state == TrialState.RUNNING and "duplicate_of" not in t.user_attrs))
    )


def counted(trial):
    """Whether ``--count`` includes ``trial``: it trained to an end that belongs to its
    configuration (completed, pruned, or diverged), and it is not a re-proposal of an
    earlier trial. A trial that failed for another reason (killed, interrupted, a data
    error) is not counted: :func:`plan` queues it again."""
    if "duplicate_of" in trial.user_attrs:
        return False
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and "failure" in trial.user_attrs


def distinct_trials(study):
    """Trials that count towards ``--count`` (:func:`counted`)."""
    return sum(counted(t) for t in study.get_trials(deepcopy=False))


def plan(study, spec, count):
    """Prepare ``study`` for ``count`` counted trials; returns how many are left to train.

    Run once, before any worker starts. Trials of processes that died (their heartbeat
    stopped more than the grace period ago) are marked failed; every trial that failed
    for a reason outside its configuration is queued again with its parameters (once);
    a grid sweep queues the grid points not yet trained, in the grid's fixed order, up
    to ``count``. Workers take queued trials first, each exactly once (the storage hands
    a waiting trial to one process only), so no point is trained twice or skipped.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    fail_trials_without_heartbeat(study)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    for t in trials:
        # A trial stopped before it drew its parameters has none to retry; its place in
        # the count (and, for a grid, its point) is simply still open.
        if t.state == TrialState.FAIL and not counted(t) and t.number not in retried and t.params:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
    trials = study.get_trials(deepcopy=False)
    active = [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    done = sum(counted(t) for t in trials)
    if spec.method == "grid":
        taken = {json.dumps(t.params, sort_keys=True) for t in trials if counted(t) or t in active}
        wanted = min(count, spec.grid_size()) - done - len(active)
        for point in spec.grid():
            if wanted <= 0:
                break
            varied = {n: v for n, v in point.items() if len(spec.parameters[n].values) > 1}
            params = {n: encode_choice(v) for n, v in varied.items()}
            if json.dumps(params, sort_keys=True) not in taken:
                study.enqueue_trial(params)
                wanted -= 1
        count = min(count, spec.grid_size())
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return max(0, count - done - running)


def optimize(
    spec,
    base_config,
    storage_url,
    study_name,
    count,
    seed=0,
    wandb_module=None,
    notify=print,
    share=None,
):
    """Train trials in this process: ``share`` of them (a worker of :func:`run_offline`), or
    until the study holds ``count`` counted trials (alone, or as one of several machines on
    one storage). Re-proposals of a trained configuration reuse its result and do not count."""
    study = open_study(spec, storage_url, study_name, seed)
    runner = TrialRunner(base_config, study_name, wandb_module, notify, spec, count)
    with explained(storage_url):  # a full disk mid-sweep, a server gone: one line
        try:
            if share is None:
                _train_until_full(study, spec, runner, count)
            else:
                _train_share(study, runner, share)
        except BaseException:  # an interrupt can surface as another error from Optuna's cleanup
            _fail_interrupted(study, runner.current)
            raise
    return study


def _one_trial(study, runner):
    study.optimize(
        runner.objective, catch=(Diverged, TooLarge, Surplus), gc_after_trial=False, n_trials=1
    )


def _train_share(study, runner, share):
    # Duplicates cost nothing but a lookup; the cap only guards a space smaller than count.
    for _ in range(DUPLICATE_CAP * share):
        if runner.trained >= share or runner.full:
            break
        _one_trial(study, runner)


def _train_until_full(study, spec, runner, count):
    """Train until the study holds ``count`` counted trials. Trials that other processes
    are running count as theirs; when one of those processes dies, its trial's heartbeat
    goes stale and :func:`plan` queues the trial again, and this process trains it: so a
    process waits, polling, until no other is running a trial."""
    idle = 0  # trials in a row that trained nothing (re-proposals, surplus)
    told = False
    while idle < DUPLICATE_CAP:
        if plan(study, spec, count) > 0:
            trained = runner.trained
            _one_trial(study, runner)
            idle = 0 if runner.trained > trained else idle + 1
            continue
        running = sum(t.state == TrialState.RUNNING for t in study.get_trials(deepcopy=False))
        if not running:
            break
        if not told:
            runner.notify(
                f"waiting for {running} trial(s) running in other processes; a trial whose "
                f"process died is trained here once its heartbeat is {GRACE_S} s old"
            )
            told = True
        time.sleep(HEARTBEAT_S)


def _fail_interrupted(study, number):
    """Make sure the trial an interruption hit is FAIL, not left RUNNING: the interrupt
    may land while Optuna itself records the trial's end."""
    if number is None:
        return
    trial = study.get_trials(deepcopy=False)[number]
    if trial.state == TrialState.RUNNING:
        try:
            study.tell(number, state=TrialState.FAIL)
        except (ValueError, RuntimeError):  # finished meanwhile
            pass
