"""Where a sweep's Optuna study lives (a sqlite file, or PostgreSQL for many machines), and
the workarounds its storage needs.

Two of them reach past Optuna's public interface, each saying why: SQLite transactions
begin with ``BEGIN IMMEDIATE`` (:func:`_serialize_sqlite`), and a trial killed before its
first heartbeat is found in Optuna's ``trial_heartbeats`` table
(:func:`fail_trials_without_heartbeat`).
"""

import time
import warnings
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.trial import TrialState

from .sampling import make_pruner, make_sampler

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


class StorageError(RuntimeError):
    """The study's storage cannot be opened; the message says which and what to do."""


def shown(storage_url):
    """``storage_url`` with its password hidden, for messages."""
    try:
        return sqlalchemy.engine.make_url(storage_url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return storage_url


def open_study(spec, storage_url, study_name, seed=0):
    """Create or reopen the study. The heartbeat marks trials of a killed process as
    failed after ``grace_period`` seconds, so a resumed sweep does not wait on them.

    Raises
    ------
    StorageError
        A URL nobody can open (unknown scheme, missing driver), a server that does not
        answer, or a file that is not a study database.
    """
    with explained(storage_url):
        return _open_study(spec, storage_url, study_name, seed)


def stored_study(storage_url, study_name):
    """Whether ``storage_url`` holds a study named ``study_name``; never creates one (a
    sqlite file that does not exist is not made). Raises StorageError like
    :func:`open_study`."""
    url = _with_driver(storage_url)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        return False
    with explained(storage_url):
        return study_name in optuna.study.get_all_study_names(storage=url)


@contextmanager
def explained(storage_url):
    """Turn the storage's failures into one :class:`StorageError` line that says what to do.

    Optuna wraps a failed commit (a full disk, say) in its own ``StorageInternalError``;
    the database's error it was raised from is the one explained."""
    try:
        yield
    except optuna.exceptions.StorageInternalError as exc:
        raise _explanation(storage_url, exc.__cause__ or exc) from None
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as exc:
        raise _explanation(storage_url, exc) from None


def _explanation(storage_url, exc):
    """The :class:`StorageError` for the database error ``exc``."""
    reason = _first_line(getattr(exc, "orig", None) or exc)
    if isinstance(exc, (sqlalchemy.exc.ArgumentError, ImportError)):
        return StorageError(
            f"--storage {shown(storage_url)}: cannot open it ({_first_line(exc)}); give a "
            "sqlite:///path/study.db or postgresql://user@host/db URL"
        )
    if isinstance(exc, sqlalchemy.exc.DatabaseError) and storage_url.startswith("sqlite"):
        if "database or disk is full" in reason:  # SQLITE_FULL: what was stored is kept
            return StorageError(
                f"{shown(storage_url)}: the disk is full; free space, then run the same "
                "command again: the sweep goes on from the trials it stored"
            )
        return StorageError(
            f"{shown(storage_url)}: not a study database ({reason}); "
            "move the file away to start the sweep afresh, or give another --out or --storage"
        )
    if isinstance(exc, sqlalchemy.exc.DatabaseError):
        return StorageError(
            f"cannot reach the study's database {shown(storage_url)} "
            f"({reason}); check that the server runs and the URL is right"
        )
    return StorageError(f"the study's database {shown(storage_url)} failed: {_first_line(exc)}")


def _first_line(exc):
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _open_study(spec, storage_url, study_name, seed):
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


def fail_trials_without_heartbeat(study):
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
