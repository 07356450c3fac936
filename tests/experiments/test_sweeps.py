"""Sweeps: YAML checks, samplers inside the space, grid coverage, an end-to-end offline
sweep on synthetic data, resuming, the test set never read, and the online path on a fake."""

import json
import os
import random
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import optuna
import pytest
import yaml

import sweep as sweep_cli
from experiments.config import parse_config
from experiments.data import sources as data
from experiments.sweeps.online import run_online
from experiments.sweeps.report import PLOTS
from experiments.sweeps.sampling import make_sampler, suggest
from experiments.sweeps.spec import SweepSpecError, load_spec, parse_spec
from experiments.sweeps.storage import GRACE_S
from experiments.sweeps.trials import distinct_trials, optimize
from tests.synthetic import write_dataset

SPACE = {
    "method": "random",
    "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {
        "epochs": {"values": [1, 2]},
        "hidden_size": {"values": [4, 8]},
        "optimizer": {"values": ["sgd", "adam", "nadam"]},
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "weight_decay": {"distribution": "uniform", "min": 0, "max": 0.01},
        "num_layers": {"distribution": "int_uniform", "min": 1, "max": 3},
        "activation": {"value": "tanh"},
    },
}


def _spec(**changes):
    raw = json.loads(json.dumps(SPACE))
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"method": "bayes"}, "parameters must be a non-empty mapping"),
        (_spec(method="hyperopt"), "method must be one of grid, random, bayes"),
        (
            _spec(metric={"name": "test_accuracy", "goal": "maximize"}),
            "validation accuracy is the only",
        ),
        (
            _spec(metric={"name": "val_accuracy", "goal": "minimize"}),
            "validation accuracy is the only",
        ),
        (_spec(parameters={"layers": {"values": [1]}}), "unknown parameter 'layers'"),
        (_spec(parameters={"data_dir": {"value": "/x"}}), "unknown parameter 'data_dir'"),
        (_spec(parameters={"optimizer": {"values": ["adagrad"]}}), "invalid choice: 'adagrad'"),
        (_spec(parameters={"batch_size": {"values": [16, 0]}}), "must be >= 1"),
        (
            _spec(
                parameters={"learning_rate": {"distribution": "uniform", "min": 0.1, "max": 0.01}}
            ),
            "needs min < max",
        ),
        (
            _spec(parameters={"learning_rate": {"distribution": "normal", "mu": 0}}),
            "expected value, values",
        ),
        (_spec(parameters={"epochs": {"values": []}}), "non-empty list"),
        (_spec(parameters={"epochs": 3}), "must be a mapping"),
        (_spec(method="grid"), "grid search needs values lists"),
        (_spec(run_cap=0), "run_cap must be a positive integer"),
        (_spec(parameters={"restore_best": {"value": "yes"}}), "expected true or false"),
        (_spec(early_terminate={"type": "median"}), "hyperband only"),
        (_spec(early_terminate={"type": "hyperband", "eta": 1}), "eta >= 2"),
        (
            _spec(early_terminate={"type": "hyperband", "max_iter": "abc"}),
            "max_iter must be an integer >= min_iter",
        ),
        (_spec(early_terminate={"type": "hyperband", "max_iter": -5}), "max_iter must be"),
        (_spec(early_terminate={"type": "hyperband", "min_iter": True}), "min_iter >= 1"),
        (_spec(run_cap=True), "run_cap must be a positive integer"),
        (_spec(colour="blue"), "unknown key(s) colour"),
        ([1, 2], "must be a YAML mapping"),
        (
            _spec(
                parameters={
                    "learning_rate": {"distribution": "q_uniform", "min": 0.01, "max": 0.1, "q": -1}
                }
            ),
            "q must be a number > 0",
        ),
        (
            _spec(
                parameters={
                    "learning_rate": {
                        "distribution": "q_uniform",
                        "min": 0.01,
                        "max": 0.1,
                        "q": "abc",
                    }
                }
            ),
            "q must be a number > 0",
        ),
        (
            _spec(parameters={"epochs": {"distribution": "uniform", "min": 1, "max": 3}}),
            "takes integers: use distribution int_uniform",
        ),
        # Regression: with no validation data every trial failed and was queued again forever.
        (_spec(parameters={"val_fraction": {"value": 0}}), "0 holds no validation data"),
        (_spec(parameters={"val_fraction": {"values": [0.1, 0.0]}}), "0 holds no validation data"),
        # Regression: YAML's .nan and .inf passed every range check.
        (_spec(parameters={"learning_rate": {"value": float("nan")}}), "is not a finite number"),
        (_spec(parameters={"weight_decay": {"values": [0, float("inf")]}}), "not a finite number"),
        (_spec(parameters={"aug_shift": {"value": 1e6}}), "must be in [0, 8]"),
    ],
)
def test_malformed_specs_are_one_line_errors(raw, message):
    with pytest.raises(SweepSpecError) as err:
        parse_spec(raw, "s.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("s.yaml: ")


@pytest.mark.parametrize("kind", ["folder", "binary"])
def test_a_folder_or_a_binary_file_is_a_one_line_error(tmp_path, kind):
    path = tmp_path / "spec"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(SweepSpecError) as err:
        load_spec(path)
    assert "give the sweep's YAML file" in str(err.value) and "\n" not in str(err.value)


def test_bad_yaml_file(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("method: [grid\n")
    with pytest.raises(SweepSpecError, match="not valid YAML"):
        load_spec(path)
    assert sweep_cli.main([str(path)]) == 2
    assert "bad.yaml: not valid YAML" in capsys.readouterr().err
    with pytest.raises(SweepSpecError, match="no such sweep file"):
        load_spec(tmp_path / "missing.yaml")


def test_shipped_sweep_files_are_valid():
    for path in sorted(
        p.name for p in (sweep_cli.Path(__file__).parents[2] / "sweeps").glob("*.yaml")
    ):
        path = f"sweeps/{path}"
        load_spec(sweep_cli.Path(__file__).parents[2] / path)
    spec = load_spec(sweep_cli.Path(__file__).parents[2] / "sweeps/fashion_mnist.yaml")
    assert set(spec.parameters["optimizer"].values) == {
        "sgd",
        "momentum",
        "nag",
        "rmsprop",
        "adam",
        "nadam",
    }
    assert spec.hyperband == {"min_iter": 2, "eta": 3, "max_iter": None}


@pytest.mark.parametrize("method", ["random", "bayes"])
def test_samplers_stay_inside_the_space(method):
    spec = parse_spec(_spec(method=method))
    study = optuna.create_study(direction="maximize", sampler=make_sampler(spec, seed=0))
    seen = []

    def objective(trial):
        params = suggest(trial, spec)
        seen.append(params)
        return params["learning_rate"] * params["hidden_size"]  # anything deterministic

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=25)
    for p in seen:
        assert p["epochs"] in (1, 2) and p["hidden_size"] in (4, 8)
        assert p["optimizer"] in ("sgd", "adam", "nadam") and p["activation"] == "tanh"
        assert 1e-4 <= p["learning_rate"] <= 1e-1 and 0 <= p["weight_decay"] <= 0.01
        assert p["num_layers"] in (1, 2, 3) and isinstance(p["num_layers"], int)


@pytest.mark.parametrize("method", ["random", "bayes"])
def test_two_processes_on_one_study_never_draw_the_same_values(method):
    """Regression: each process's sampler, seeded alike, drew the same sequence, so two
    machines with the same command trained each configuration twice. Now trial n's values
    depend on (seed, n) only: the same in any process, different between trials."""
    spec = parse_spec(_spec(method=method), "s.yaml")
    storage = optuna.storages.InMemoryStorage()

    def machine():
        return optuna.create_study(
            study_name="shared",
            storage=storage,
            direction="maximize",
            sampler=make_sampler(spec, seed=7),
            load_if_exists=True,
        )

    machines = [machine(), machine()]
    for i in range(8):  # the machines take turns, as they would finish trials
        study = machines[i % 2]
        trial = study.ask()
        study.tell(trial, suggest(trial, spec)["learning_rate"])
    rates = [t.params["learning_rate"] for t in machines[0].trials]
    assert len(set(rates)) == 8
    again = optuna.create_study(direction="maximize", sampler=make_sampler(spec, seed=7))
    for _ in range(8):
        trial = again.ask()
        again.tell(trial, suggest(trial, spec)["learning_rate"])
    assert [t.params["learning_rate"] for t in again.trials] == rates


def test_grid_enumerates_the_whole_space():
    raw = _spec(
        method="grid",
        parameters={
            "epochs": {"values": [1, 2]},
            "optimizer": {"values": ["sgd", "adam", "nag"]},
            "hidden_sizes": {"values": [[8, 4], [16]]},
            "activation": {"value": "ReLU"},
        },
    )
    spec = parse_spec(raw)
    assert spec.grid_size() == 12
    study = optuna.create_study(direction="maximize", sampler=make_sampler(spec, seed=0))
    seen = []
    study.optimize(lambda t: seen.append(suggest(t, spec)) or 0.0, n_trials=50)
    assert sorted(map(json.dumps, seen)) == sorted(map(json.dumps, spec.grid()))


@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_host_reachable", lambda host, timeout=3.0: False)
    write_dataset(tmp_path / "data", n_train=300, n_test=50)
    # Make the test files unreadable: a sweep that touched them would fail.
    for stem in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        path = tmp_path / "data" / stem
        path.write_bytes(b"")
        path.chmod(0)
    spec = _spec(
        parameters=dict(
            SPACE["parameters"], hidden_size={"values": [4, 8]}, epochs={"values": [1, 2]}
        )
    )
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path


def _one_worker_unless_asked(extra):
    """Tests run one trial process unless they test workers: starting a process per core
    for every small sweep would double the suite's time on 2 cores."""
    return extra if "--workers" in extra else (*extra, "--workers", "1")


def _sweep(tmp_path, *extra):
    extra = _one_worker_unless_asked(extra)
    return sweep_cli.main(
        [
            str(tmp_path / "tiny.yaml"),
            "--data_dir",
            str(tmp_path / "data"),
            "--mode",
            "disabled",
            "--out",
            str(tmp_path / "report"),
            *extra,
        ]
    )


def test_offline_sweep_writes_every_report_file_without_reading_the_test_set(synthetic, capsys):
    assert _sweep(synthetic, "--count", "3") == 0
    report = synthetic / "report"
    for name in ("best.json", "trials.csv", "index.html", "analysis.json", *PLOTS):
        assert (report / name).stat().st_size > 0, name
    best = json.loads((report / "best.json").read_text())
    assert best["trials"] == 3 and 0 <= best["val_accuracy"] <= 1
    assert best["train_command"].startswith("python train.py --data_dir")
    assert len((report / "trials.csv").read_text().splitlines()) == 4
    html = (report / "index.html").read_text()
    assert all(p in html for p in PLOTS) and "Best validation accuracy" in html
    assert "report:" in capsys.readouterr().out


def test_a_full_disk_while_drawing_the_report_is_a_one_line_error(synthetic, capsys, monkeypatch):
    """Regression: a disk that filled up while the report was drawn ended the sweep in a
    traceback. The trials are in the study: it says so, and how to draw the report later."""
    import errno

    import matplotlib.figure

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(matplotlib.figure.Figure, "savefig", full)
        assert _sweep(synthetic, "--count", "1") == 1
    err = capsys.readouterr().err
    assert "could not write the report into" in err and "(No space left on device)" in err
    assert "free space, then draw it with python sweep.py" in err and "--report_only" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _sweep(synthetic, "--report_only") == 0  # the trial was kept
    assert (synthetic / "report" / "index.html").stat().st_size > 0


def _disk_full():
    """The error Optuna raises when SQLite cannot commit on a full disk."""
    import sqlite3

    import sqlalchemy

    full = sqlalchemy.exc.OperationalError(
        "INSERT", {}, sqlite3.OperationalError("database or disk is full")
    )
    try:
        raise optuna.exceptions.StorageInternalError(
            "An exception is raised during the commit."
        ) from full
    except optuna.exceptions.StorageInternalError as exc:
        return exc


def test_a_disk_that_fills_up_mid_sweep_is_one_line_and_the_sweep_resumes(
    synthetic, capsys, monkeypatch
):
    """Regression: SQLite's "database or disk is full" in the middle of a sweep came out as
    Optuna's traceback (and at start-up as "not a study database: move the file away", which
    would have thrown the stored trials away). Now it says to free space and run again, and
    the run again goes on from the trials stored."""
    storage_class = optuna.storages.RDBStorage
    real = storage_class.set_trial_user_attr
    calls = []

    def fills_up(self, *args, **kwargs):
        calls.append(args)
        if len(calls) > 12:  # a trial or two in
            raise _disk_full()
        return real(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(storage_class, "set_trial_user_attr", fills_up)
        assert _sweep(synthetic, "--count", "4") == 1
    err = capsys.readouterr().err
    assert "the disk is full; free space, then run the same command again" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _sweep(synthetic, "--count", "4") == 0
    rows = (synthetic / "report" / "trials.csv").read_text().splitlines()
    assert len(rows) == 5


def test_resuming_continues_instead_of_restarting(synthetic):
    assert _sweep(synthetic, "--count", "2") == 0
    first = (synthetic / "report" / "trials.csv").read_text().splitlines()
    assert _sweep(synthetic, "--count", "4") == 0
    second = (synthetic / "report" / "trials.csv").read_text().splitlines()
    assert len(second) == 5 and second[:3] == first


def test_a_diverging_trial_is_recorded_as_failed_and_the_sweep_goes_on(synthetic):
    spec = parse_spec(
        _spec(
            parameters={
                "optimizer": {"value": "sgd"},
                "learning_rate": {"values": [1e30, 0.01]},
                "epochs": {"value": 3},
                "hidden_size": {"value": 16},
            }
        )
    )
    base = parse_config(
        [
            "--data_dir",
            str(synthetic / "data"),
            "--wandb_mode",
            "disabled",
            "-q",
            "-a",
            "identity",
            "-b",
            "7",
            "-nhl",
            "1",
        ]
    )
    storage = f"sqlite:///{synthetic / 'div.db'}"
    study = optimize(spec, base, storage, "div", count=6, notify=lambda *_: None)
    states = {t.state.name for t in study.trials}
    assert distinct_trials(study) == 6 and states == {"FAIL", "COMPLETE"}
    repeats = [t for t in study.trials if "duplicate_of" in t.user_attrs]
    assert all(t.value == study.trials[t.user_attrs["duplicate_of"]].value for t in repeats), (
        "a repeated configuration reuses the earlier result"
    )
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert all("loss became" in t.user_attrs["failure"] for t in failed)


def test_a_trial_too_large_for_the_machine_fails_once_and_the_sweep_goes_on(synthetic):
    """Regression: a sweep over widths this machine cannot hold ended its worker with
    NumPy's allocation error. Such a trial is refused before it trains, recorded as failed
    with the reason, and (being a result, not an accident) not retried."""
    spec = parse_spec(
        _spec(
            method="grid",
            parameters={"epochs": {"value": 1}, "hidden_size": {"values": [8, 3_000_000]}},
        )
    )
    base = parse_config(["--data_dir", str(synthetic / "data"), "--wandb_mode", "disabled"])
    notes = []
    storage = f"sqlite:///{synthetic / 'large.db'}"
    study = optimize(spec, base, storage, "large", count=2, notify=notes.append)
    by_width = {t.params["hidden_size"]: t for t in study.trials}
    assert len(study.trials) == 2 and by_width[8].state.name == "COMPLETE"
    assert by_width[3_000_000].state.name == "FAIL"
    assert "needs about" in by_width[3_000_000].user_attrs["failure"]
    assert any("too large for this machine" in note for note in notes)


@pytest.mark.parametrize(
    "widths, exit_codes",
    # a width this machine cannot hold: refused before training, its W&B run finished failed
    [([4, 8], [0, 0]), ([4, 3_000_000], [0, 1])],
)
def test_online_sweep_goes_through_wandb_sweep_and_agent(synthetic, widths, exit_codes):
    spec = parse_spec(_spec(parameters={"epochs": {"value": 1}, "hidden_size": {"values": widths}}))
    logged = []

    class Run:
        def __init__(self, config):
            self.config, self.name, self.summary, self.url = config, None, {}, "https://w/r"

        def log(self, values, step=None):
            logged.append((self.name, step, values))

        def finish(self, exit_code=0):
            logged.append((self.name, "finish", exit_code))

    runs = []

    def agent(sweep_id, function, count, project, entity):
        assert sweep_id == "abc123" and project == "p"
        for hidden in widths[:count]:
            runs.append(Run({"epochs": 1, "hidden_size": hidden}))
            function()

    fake = types.SimpleNamespace(
        sweep=lambda config, project, entity: (
            config["metric"]["name"] == "val_accuracy" and "abc123"
        ),
        agent=agent,
        init=lambda: runs[-1],
    )
    base = parse_config(["--data_dir", str(synthetic / "data"), "-q", "-wp", "p", "-nhl", "3"])
    assert run_online(spec, base, count=2, wandb_module=fake, notify=lambda *_: None) == "abc123"
    assert [r.name.split("_bs_")[0] for r in runs] == [f"hl_3_sz_{w}" for w in widths]
    assert all(r.summary["val_accuracy"] >= 0 for r, code in zip(runs, exit_codes) if not code)
    assert [entry for entry in logged if entry[1] == "finish"] == [
        (run.name, "finish", code) for run, code in zip(runs, exit_codes)
    ]


def test_a_grid_of_one_point_trains_it(synthetic):
    """Regression: with every parameter fixed, each trial failed in Optuna's GridSampler
    (KeyError 'grid_id') and the sweep ended in a traceback."""
    spec_path = _grid(synthetic, sizes=(4,))
    assert _grid_sweep(synthetic, spec_path) == 0
    study = _study(synthetic, "grid")
    assert len(study.trials) == 1 and study.trials[0].state == optuna.trial.TrialState.COMPLETE


def test_an_unreachable_wandb_server_sweeps_offline_or_says_so_in_one_line(
    synthetic, monkeypatch, capsys
):
    """Regression: with credentials set and the server unreachable, auto and online mode
    ended in an AuthenticationError traceback after 21 s, and nothing trained."""
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    spec_path = _grid(synthetic, sizes=(4, 8))
    started = time.monotonic()
    assert _grid_sweep(synthetic, spec_path, "--mode", "online") == 1
    assert time.monotonic() - started < 15
    err = capsys.readouterr().err
    assert "W&B server 127.0.0.1:9 unreachable; run the sweep here with --mode offline" in err
    assert len(err.strip().splitlines()) == 1
    assert _grid_sweep(synthetic, spec_path, "--mode", "auto") == 0
    assert "W&B server 127.0.0.1:9 unreachable; running the sweep offline here" in (
        capsys.readouterr().out
    )
    assert _trained_sizes(_study(synthetic, "grid")) == [4, 8]


def test_two_worker_processes_share_one_study(synthetic):
    assert _sweep(synthetic, "--count", "4", "--workers", "2") == 0
    study = optuna.load_study(
        study_name="tiny", storage=f"sqlite:///{synthetic / 'report' / 'study.db'}"
    )
    assert distinct_trials(study) >= 4
    assert len({t.number for t in study.trials}) == len(study.trials)
    assert (synthetic / "report" / "index.html").exists()


@pytest.mark.parametrize(
    "cores, workers, expected",
    [
        (range(16), 4, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]),
        (range(16), 3, [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15]]),
        ([2, 3], 2, [[2], [3]]),
        ([2, 3], 3, [[2], [3], [2]]),  # more workers than cores: one core each, shared
        ([0, 1], 1, [[0, 1]]),
    ],
)
def test_workers_get_disjoint_groups_of_the_usable_cores(monkeypatch, cores, workers, expected):
    from experiments.sweeps import workers as processes

    monkeypatch.setattr(processes.os, "sched_getaffinity", lambda pid: set(cores), raising=False)
    assert processes.core_sets(workers) == expected


def test_workers_default_to_auto():
    assert sweep_cli.build_parser().parse_args(["s.yaml"]).workers == "auto"
    assert sweep_cli.build_parser().parse_args(["s.yaml", "--workers", "3"]).workers == 3


def test_auto_workers_are_one_per_usable_core_each_with_one_blas_thread(synthetic, monkeypatch):
    from experiments import threads

    monkeypatch.setattr(threads, "_core_budget", None)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    # 64 x 784 x 1024 = 51 M multiply-adds: the policy gives a whole 2-core machine 2 threads,
    # a worker pinned to one core 1.
    assert threads.policy([784, 1024, 10], 64) == 2
    spec_path = _grid(synthetic, sizes=(1024, 1040), name="wide")
    assert _grid_sweep(synthetic, spec_path, "--workers", "auto") == 0
    trained = _study(synthetic, "wide").trials
    assert len(trained) == 2 and len({t.user_attrs["pid"] for t in trained}) == 2
    assert {t.user_attrs["blas_threads"] for t in trained} == {1}


def test_level_summary_bins_continuous_parameters():
    from experiments.sweeps.report import level_summary

    rows = [
        {"params": {"lr": lr, "opt": opt}, "state": "COMPLETE", "val_accuracy": acc}
        for lr, opt, acc in zip(
            [1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4, 7e-4, 8e-4, 9e-4],
            "abcabcabc",
            [0.1 * i for i in range(1, 10)],
        )
    ]
    levels = level_summary(rows, ["lr", "opt"])
    lr_levels = [l for l in levels if l["parameter"] == "lr"]
    assert len(lr_levels) == 3 and sum(l["trials"] for l in lr_levels) == 9
    assert lr_levels[0]["value"] == "0.0001..0.000367"
    assert [l["value"] for l in levels if l["parameter"] == "opt"] == ["a", "b", "c"]
    assert levels[-1]["mean_val_accuracy"] == pytest.approx((0.3 + 0.6 + 0.9) / 3)


# ------------------------------------------------------------------ exact accounting
def _grid(tmp_path, sizes=(4, 8, 12), epochs=1, name="grid"):
    spec = _spec(
        method="grid",
        parameters={"hidden_size": {"values": list(sizes)}, "epochs": {"value": epochs}},
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _study(tmp_path, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / name / 'study.db'}")


def _trained_sizes(study):
    from experiments.sweeps.trials import counted

    return sorted(t.params.get("hidden_size") for t in study.trials if counted(t))


def _grid_sweep(tmp_path, spec_path, *extra):
    extra = _one_worker_unless_asked(extra)
    name = spec_path.stem
    return sweep_cli.main(
        [
            str(spec_path),
            "--data_dir",
            str(tmp_path / "data"),
            "--mode",
            "disabled",
            "--out",
            str(tmp_path / name),
            *extra,
        ]
    )


def test_a_grid_with_two_workers_trains_every_point_exactly_once(synthetic):
    """Regression: each worker had its own grid order, so points were trained twice or never."""
    spec_path = _grid(synthetic)
    assert _grid_sweep(synthetic, spec_path, "--workers", "2") == 0
    study = _study(synthetic, "grid")
    assert _trained_sizes(study) == [4, 8, 12]
    assert len(study.trials) == 3


def test_running_a_finished_sweep_again_with_several_workers_trains_nothing_more(synthetic):
    """Regression: with every trial done, no worker was needed and planning the cores of
    zero workers divided by zero, a ZeroDivisionError (the README's "resume / add trials"
    workflow)."""
    spec_path = _grid(synthetic)
    assert _grid_sweep(synthetic, spec_path, "--workers", "1") == 0
    for extra in (("--workers", "2"), ("--workers", "auto"), ("--count", "2", "--workers", "2")):
        assert _grid_sweep(synthetic, spec_path, *extra) == 0
    study = _study(synthetic, "grid")
    assert _trained_sizes(study) == [4, 8, 12] and len(study.trials) == 3


def _claim(storage_url, claims, numbers):
    from experiments.sweeps.storage import open_study

    study = open_study(_claims_spec(), storage_url, "claims")
    with pytest.warns(UserWarning, match="Heartbeat"):  # ask() outside optimize() says so
        numbers.put([study.ask().number for _ in range(claims)])


def _claims_spec():
    return parse_spec(_spec(), "claims.yaml")


def test_concurrent_workers_never_claim_the_same_queued_trial(tmp_path):
    """Regression: SQLite ignores SELECT ... FOR UPDATE, so two processes could both move
    one WAITING trial to RUNNING and train it twice (80 claims by 4 processes gave 71
    distinct trials before every transaction began with BEGIN IMMEDIATE)."""
    import multiprocessing

    from experiments.sweeps.storage import open_study

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = open_study(_claims_spec(), url, "claims")
    processes, claims = 4, 20
    for i in range(processes * claims):
        study.enqueue_trial({"hidden_size": 4 + i})
    context = multiprocessing.get_context("spawn")
    numbers = context.Queue()
    workers = [
        context.Process(target=_claim, args=(url, claims, numbers)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    claimed = sum((numbers.get(timeout=120) for _ in workers), [])
    for worker in workers:
        worker.join()
    assert sorted(claimed) == list(range(processes * claims))


def test_count_is_exact_with_several_workers(synthetic):
    assert _sweep(synthetic, "--count", "3", "--workers", "2") == 0
    study = optuna.load_study(
        study_name="tiny", storage=f"sqlite:///{synthetic / 'report' / 'study.db'}"
    )
    assert distinct_trials(study) == 3
    assert sum("duplicate_of" not in t.user_attrs for t in study.trials) == 3


@pytest.mark.parametrize("argv", [["--count", "-1"], ["--count", "0"], ["--workers", "-2"]])
def test_bad_count_or_workers_is_a_one_line_error(synthetic, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        _sweep(synthetic, *argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "must be >= 1" in err and "Traceback" not in err


def _workers(pid):
    """The trial processes started by ``pid`` (multiprocessing's spawned children; not its
    resource tracker, which leaves by itself once the parent's pipe closes)."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in command:
            workers.append(int(stat.parent.name))
    return workers


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs Linux's /proc to find the workers")
@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM])
def test_a_stopped_sweep_takes_its_workers_along_and_resumes_without_losing_a_point(
    synthetic, stop_signal
):
    """The parent of a 2-worker grid sweep is stopped mid-trial (SIGKILL: the workers follow
    through the parent-death signal; SIGTERM: as on Ctrl-C). No worker outlives it, the
    interrupted trials end as FAIL, and the resumed sweep trains every point exactly once."""
    # 800 epochs of 300 samples: seconds per trial, time to stop one in the middle.
    spec_path = _grid(synthetic, sizes=(4, 8, 12, 16), epochs=800, name="stopped")
    command = [
        sys.executable,
        str(Path(sweep_cli.__file__)),
        str(spec_path),
        "--data_dir",
        str(synthetic / "data"),
        "--mode",
        "disabled",
        "--out",
        str(synthetic / "stopped"),
        "--workers",
        "2",
    ]
    parent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    study = None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            study = _study(synthetic, "stopped")
        except Exception:  # the study is created by the parent; not there yet
            continue
        if any(t.state.name == "RUNNING" for t in study.trials):
            break
    else:
        parent.kill()
        pytest.fail("the workers never started a trial")
    workers = _workers(parent.pid)
    assert workers, "no worker process found"
    parent.send_signal(stop_signal)
    parent.wait(timeout=60)
    deadline = time.monotonic() + 60  # a worker may first wait out SQLite's 20 s lock timeout
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "a worker outlived its parent"
    study = _study(synthetic, "stopped")
    assert {t.state.name for t in study.trials} <= {"FAIL", "COMPLETE", "WAITING", "RUNNING"}
    if any(t.state.name == "RUNNING" for t in study.trials):
        # A worker stopped between taking a trial and starting it leaves it RUNNING; its
        # heartbeat has stopped, and after the grace period the resumed sweep retries it.
        time.sleep(GRACE_S + 1)
    assert _grid_sweep(synthetic, spec_path) == 0
    assert _trained_sizes(_study(synthetic, "stopped")) == [4, 8, 12, 16]


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs Linux's /proc to find the workers")
def test_a_worker_killed_mid_trial_is_replaced_and_every_point_is_trained_once(synthetic):
    """SIGKILL of one of two workers (the OOM killer's way): the parent notices, retries the
    killed worker's trial once its heartbeat is stale, and the report counts four trials."""
    spec_path = _grid(synthetic, sizes=(4, 8, 12, 16), epochs=800, name="killed")
    command = [sys.executable, str(Path(sweep_cli.__file__)), str(spec_path)]
    command += ["--data_dir", str(synthetic / "data"), "--mode", "disabled"]
    command += ["--out", str(synthetic / "killed"), "--workers", "2"]
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            running = [t for t in _study(synthetic, "killed").trials if t.state.name == "RUNNING"]
        except Exception:  # the study is created by the parent; not there yet
            continue
        workers = _workers(parent.pid)
        if running and len(workers) == 2:
            break
    else:
        parent.kill()
        pytest.fail("the workers never started a trial")
    os.kill(workers[0], signal.SIGKILL)
    out, _ = parent.communicate(timeout=600)
    assert parent.returncode == 0, out
    assert "1 worker(s) stopped early (exit codes [-9])" in " ".join(out.split())
    study = _study(synthetic, "killed")
    assert _trained_sizes(study) == [4, 8, 12, 16]
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 4
    best = json.loads((synthetic / "killed" / "best.json").read_text())
    assert best["trials"] == best["completed"] == 4
    with open(synthetic / "killed" / "trials.csv") as handle:
        assert len(handle.read().strip().splitlines()) == 1 + 4  # header + counted trials


def test_a_dataset_too_small_for_validation_stops_the_sweep_in_one_line(tmp_path):
    """Two training images leave no validation image: every trial's metric was NaN, failed
    and was queued again, without end. With two workers, neither prints a traceback: the
    sweep's process says it once."""
    write_dataset(tmp_path / "data", n_train=2, n_test=1)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(_spec()))
    command = [sys.executable, str(Path(sweep_cli.__file__)), str(tmp_path / "tiny.yaml")]
    command += ["--data_dir", str(tmp_path / "data"), "--mode", "disabled", "--workers", "2"]
    command += ["--out", str(tmp_path / "report"), "--count", "3"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "ranks its trials by validation accuracy; use more data" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_data_error_in_a_sweep_is_one_line_without_optunas_traceback(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(_spec()))
    code = sweep_cli.main(
        [
            str(tmp_path / "tiny.yaml"),
            "--data_dir",
            str(tmp_path / "empty"),
            "--mode",
            "disabled",
            "--out",
            str(tmp_path / "report"),
            "--count",
            "1",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "data error" in captured.err and "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(
    "where, message",
    [
        ({"out": "a_file/report"}, "choose another folder with --out"),
        ({"storage": "foo://x"}, "cannot open it"),
        ({"storage": "sqlite:///{tmp}/random.db"}, "not a study database"),
        ({"storage": "postgresql://u:secret@127.0.0.1:9/db"}, "cannot reach the study's database"),
        ({"storage": "sqlite:///{tmp}/random.db", "report_only": True}, "not a study database"),
        ({"report_only": True}, "--report_only: no sweep 'tiny' is stored in"),
    ],
)
def test_an_unusable_out_or_storage_is_one_clear_line(tmp_path, capsys, where, message):
    """A file where the folder should be, an unknown URL scheme, a corrupt study.db (random
    bytes), a PostgreSQL server that does not answer: each was a SQLAlchemy or OS traceback."""
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "random.db").write_bytes(random.Random(0).randbytes(4096))
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(_spec()))
    args = [str(tmp_path / "tiny.yaml"), "--mode", "disabled", "--count", "1"]
    args += ["--out", str(tmp_path / where.get("out", "report"))]
    if "storage" in where:
        args += ["--storage", where["storage"].format(tmp=tmp_path)]
    if where.get("report_only"):
        args.append("--report_only")
    assert sweep_cli.main(args) == 1
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err + captured.out
    assert "secret" not in captured.err + captured.out  # a password never shows
