"""Run a sweep: on W&B's sweep controller when online, on an embedded Optuna study offline.

Offline, the YAML's method maps to an Optuna sampler (``grid`` -> GridSampler,
``random`` -> RandomSampler, ``bayes`` -> TPESampler) and ``early_terminate:
hyperband`` to Optuna's HyperbandPruner, fed with the validation accuracy of
every epoch. The study lives in a storage URL (a sqlite file in the sweep's
folder by default), so a killed sweep resumes where it stopped, several worker
processes can share it, and a PostgreSQL URL lets many machines work on one
sweep. Each trial is a normal run logged to W&B (offline unless logged in) with
its hyperparameter name and the sweep's name as its group.

The test set is never loaded: trials read the training files only and are
ranked by the validation accuracy of the model each run ends with (the last
epoch's, or the best epoch's when the trial sets ``restore_best``).
"""

import ctypes
import json
import multiprocessing
import os
import signal
import time
import warnings
from datetime import datetime, timedelta

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.trial import TrialState

from ..app.tracking import Tracker
from ..config import run_name
from ..data import as_inputs, load_dataset, stratified_split
from ..seeds import derived_seed
from ..threads import set_core_budget, usable_cores
from ..training import Callback, Diverged, build_network, train
from .spec import load_spec


def _encode(value):
    """Optuna categoricals must be scalars: lists (``hidden_sizes``) become strings."""
    return json.dumps(value) if isinstance(value, list) else value


def decode_choice(value):
    """An Optuna categorical value back as the setting's value (the inverse of ``_encode``)."""
    return json.loads(value) if isinstance(value, str) and value.startswith("[") else value


def suggest(trial, spec):
    """Draw one configuration of ``spec``'s parameters through ``trial``."""
    params = {}
    for p in spec.parameters.values():
        if p.is_categorical:
            if len(p.values) == 1:
                params[p.name] = p.values[0]
            else:
                choice = trial.suggest_categorical(p.name, [_encode(v) for v in p.values])
                params[p.name] = decode_choice(choice)
        elif p.distribution == "int_uniform":
            params[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high))
        else:
            params[p.name] = trial.suggest_float(
                p.name,
                p.low,
                p.high,
                log=p.distribution == "log_uniform_values",
                step=p.q if p.distribution == "q_uniform" else None,
            )
    return params


def make_sampler(spec, seed):
    """The YAML method's sampler. Grid points come from the queue :func:`plan` fills;
    random and bayes draw trial ``n``'s values with a generator seeded by ``(seed, n)``."""
    if spec.method == "grid":
        space = {
            n: [_encode(v) for v in p.values]
            for n, p in spec.parameters.items()
            if len(p.values) > 1
        }
        if not space:
            # A grid of one point, queued by plan() like every grid point: GridSampler, given
            # no dimension, failed every trial (KeyError 'grid_id'); nothing is left to draw.
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.GridSampler(space, seed=seed)
    if spec.method == "random":
        return TrialSeeded(optuna.samplers.RandomSampler, seed)
    return TrialSeeded(lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True), seed)


class TrialSeeded(optuna.samplers.BaseSampler):
    """A sampler whose draws for trial ``n`` come from ``make(derived_seed(seed, n))``.

    An Optuna sampler seeded once per process draws the same sequence in every process:
    two machines started with the same command proposed the same learning rates and
    trained each configuration twice. Seeded per trial number instead (unique in the
    study), every trial draws its own values, whichever process or machine runs it, and
    a sweep is reproducible whatever its worker count (for bayes, given the same history).
    """

    def __init__(self, make, seed):
        self._make, self._seed = make, seed
        self._current = (None, None)  # (trial number, its sampler)

    def _sampler(self, trial):
        if self._current[0] != trial.number:
            self._current = (trial.number, self._make(derived_seed(self._seed, trial.number)))
        return self._current[1]

    def infer_relative_search_space(self, study, trial):
        return self._sampler(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._sampler(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._sampler(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):
        self._sampler(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self._sampler(trial).after_trial(study, trial, state, values)


def make_pruner(spec):
    if not spec.hyperband:
        return optuna.pruners.NopPruner()
    max_resource = spec.hyperband.get("max_iter") or spec.max_epochs or "auto"
    return optuna.pruners.HyperbandPruner(
        min_resource=spec.hyperband["min_iter"],
        max_resource=max_resource,
        reduction_factor=spec.hyperband["eta"],
    )


#: Seconds between a running trial's heartbeats, and without one before the trial counts as
#: dead (its process was killed): :func:`plan` then marks it failed and queues it again.
HEARTBEAT_S, GRACE_S = 5, 15


def default_storage(out_dir):
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def _serialize_sqlite(engine):
    """Begin every SQLite transaction with ``BEGIN IMMEDIATE`` (it takes the write lock).

    Optuna hands a queued trial to one process by reading it ``FOR UPDATE`` and moving it
    from WAITING to RUNNING. SQLite ignores ``FOR UPDATE``: two workers could both read
    WAITING before either wrote, and both trained the same trial (measured: 80 claims by
    4 processes gave 71 distinct trials). Taking the lock before the read makes the
    read-check-write of a claim atomic; PostgreSQL's row locks already do this.
    """
    sqlalchemy.event.listen(
        engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE")
    )


def _with_driver(storage_url):
    """``postgresql://`` names no driver, and SQLAlchemy's default for it changed (psycopg2,
    then psycopg 3): use the one the ``postgres`` extra installs."""
    if storage_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + storage_url[len("postgresql://") :]
    return storage_url


def open_study(spec, storage_url, study_name, seed=0):
    """Create or reopen the study. The heartbeat marks trials of a killed process as
    failed after ``grace_period`` seconds, so a resumed sweep does not wait on them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sqlite = storage_url.startswith("sqlite")
        # SQLite lets one process write at a time; on a loaded machine a worker may wait
        # longer than the driver's default 5 s for the lock, so it waits up to 20 s. The
        # driver's own transaction handling is switched off so that _serialize_sqlite can
        # begin every transaction itself.
        engine = {"connect_args": {"timeout": 20, "isolation_level": None}} if sqlite else None
        for attempt in range(3):
            try:
                storage = optuna.storages.RDBStorage(
                    _with_driver(storage_url),
                    engine_kwargs=engine,
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                )
                break
            except sqlalchemy.exc.SQLAlchemyError:
                # Machines starting together on a fresh database race to create Optuna's
                # tables (PostgreSQL: "duplicate key ... pg_type"); the loser finds them
                # made a moment later.
                if attempt == 2:
                    raise
                time.sleep(1 + attempt)
        if sqlite:
            _serialize_sqlite(storage.engine)
    return optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction="maximize",
        sampler=make_sampler(spec, seed),
        pruner=make_pruner(spec),
        load_if_exists=True,
    )


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
        key = (config.dataset, config.data_dir, config.val_fraction, config.seed)
        if key not in self._data:
            dataset = load_dataset(
                config.dataset, config.data_dir, include_test=False, strict=config.strict_data
            )
            if dataset.warning:
                self.notify(f"warning: {dataset.warning}")
            split = stratified_split(dataset.y_train, config.val_fraction, config.seed)
            x = as_inputs(dataset.x_train)
            self._data[key] = (
                dataset,
                x[split.train],
                dataset.y_train[split.train],
                x[split.val],
                dataset.y_train[split.val],
            )
        return self._data[key]

    def run(self, params, trial=None, tracker=None):
        """Train ``base config + params``; returns ``(config, history)``.

        Raises Diverged or optuna.TrialPruned; the W&B run is finished either way.
        """
        config = self.base.replace(**params)
        name = run_name(config)
        dataset, x_tr, y_tr, x_val, y_val = self.data(config)
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
        except Diverged as exc:
            trial.set_user_attr("failure", str(exc))
            self.notify(f"trial {trial.number}: diverged ({exc}); recorded as failed")
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
    _fail_trials_without_heartbeat(study)
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
            params = {n: _encode(v) for n, v in point.items() if len(spec.parameters[n].values) > 1}
            if json.dumps(params, sort_keys=True) not in taken:
                study.enqueue_trial(params)
                wanted -= 1
        count = min(count, spec.grid_size())
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return max(0, count - done - running)


def _fail_trials_without_heartbeat(study):
    """Fail RUNNING trials that never had a heartbeat and began over ``GRACE_S`` ago.

    Optuna fails a running trial only once its heartbeat is stale, and a process killed
    between claiming a trial and its first heartbeat leaves one with none: it would stay
    RUNNING forever, and the sweep would wait for it (or end short). Optuna keeps the
    heartbeats in its ``trial_heartbeats`` table, read here directly: no public call
    says whether a trial has one.
    """
    storage = getattr(study._storage, "_backend", study._storage)
    engine = getattr(storage, "engine", None)
    if engine is None:  # not a database storage: no heartbeats at all
        return
    with engine.connect() as connection:
        query = sqlalchemy.text("SELECT trial_id FROM trial_heartbeats")
        beating = {row[0] for row in connection.execute(query)}
    cutoff = datetime.now() - timedelta(seconds=GRACE_S)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial._trial_id not in beating and trial.datetime_start < cutoff:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


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
    study.optimize(runner.objective, catch=(Diverged, Surplus), gc_after_trial=False, n_trials=1)


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


DUPLICATE_CAP = 10


def _die_with_parent(parent_pid):
    """Ask Linux to send this process SIGTERM when its parent dies (even by SIGKILL), and
    turn SIGTERM into KeyboardInterrupt, so the trial in progress ends as FAIL and is
    retried when the sweep resumes. Elsewhere the workers outlive a killed parent."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    # The parent may have died before prctl took effect; this process then belongs to
    # another (init, or a container's reaper), so compare with the parent it was born to.
    if os.getppid() != parent_pid:
        _interrupt(signal.SIGTERM, None)


_stopping = False  # set once this process was told to stop


def _interrupt(signum, frame):
    global _stopping
    _stopping = True
    raise KeyboardInterrupt


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
    except BaseException:
        # Told to stop: the trial in progress is FAIL and will be retried on resume. An
        # interrupt can reach Optuna's own cleanup and come out as another exception.
        if not _stopping:
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


def run_online(spec, base_config, count, wandb_module=None, notify=print):
    """Create the sweep on W&B and run ``count`` trials here with ``wandb.agent``.

    Returns the sweep id; more machines join with ``wandb agent ENTITY/PROJECT/SWEEP_ID``
    (they then run ``program`` from the YAML, i.e. ``python train.py`` with the trial's flags).
    """
    wandb = wandb_module or __import__("wandb")
    sweep_config = dict(spec.raw)
    sweep_config.setdefault("metric", {"name": "val_accuracy", "goal": "maximize"})
    sweep_config.setdefault("program", "train.py")
    # Agents on other machines run train.py; keep them off the test set too.
    # ${args_no_boolean_flags} passes `--restore_best` for true, which train.py's switches expect.
    sweep_config.setdefault(
        "command",
        [
            "${env}",
            "${interpreter}",
            "${program}",
            "--no-evaluate_test",
            "${args_no_boolean_flags}",
        ],
    )
    project, entity = base_config.wandb_project, base_config.wandb_entity
    sweep_id = wandb.sweep(sweep_config, project=project, entity=entity)
    runner = TrialRunner(base_config, spec.name or sweep_id, wandb, notify, spec)

    def one_trial():
        run = wandb.init()
        params = {
            name: decode_choice(value)
            for name, value in dict(run.config).items()
            if name in spec.parameters
        }
        run.name = run_name(base_config.replace(**params))
        try:
            config, history = runner.run(params, tracker=Tracker.attach(run, wandb, notify))
            notify(f"{run.name}: val_accuracy {history.final_val_accuracy:.4f}")
        except Diverged as exc:
            notify(f"{run.name}: diverged ({exc}); recorded as failed")

    wandb.agent(sweep_id, function=one_trial, count=count, project=project, entity=entity)
    return sweep_id
