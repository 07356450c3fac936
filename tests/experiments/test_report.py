"""The analysis report regenerates its figures and tables from saved runs, offline."""

import json

import optuna
import pytest

import train
from experiments import report
from experiments.data import sources as data
from tests.synthetic import write_dataset


@pytest.fixture
def saved(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_host_reachable", lambda host, timeout=3.0: False)
    for name in ("fashion-mnist", "mnist"):
        write_dataset(tmp_path / "data" / name)
    runs = (
        ("best_fashion_mnist", "fashion_mnist", []),
        ("mnist_transfer", "mnist", []),
        # a record attempt: one configuration, two seeds
        ("records/mnist_augment", "mnist", ["--augment", "affine", "--ema", "0.9", "--seed", "0"]),
        ("records/mnist_augment", "mnist", ["--augment", "affine", "--ema", "0.9", "--seed", "1"]),
    )
    for folder, dataset, extra in runs:
        assert (
            train.main(
                [
                    "--data_dir",
                    str(tmp_path / "data" / dataset.replace("_", "-")),
                    "-d",
                    dataset,
                    "--runs_dir",
                    str(tmp_path / "runs" / folder),
                    "--wandb_mode",
                    "disabled",
                    "-q",
                    "-e",
                    "1",
                    "-nhl",
                    "1",
                    "-sz",
                    "8",
                    "-o",
                    "adam",
                    "-lr",
                    "1e-3",
                    *extra,
                ]
            )
            == 0
        )
    # A stored loss comparison: two losses x one optimizer x two seeds, 3 epochs each.
    db = tmp_path / "sweeps" / "loss_comparison" / "study.db"
    db.parent.mkdir(parents=True)
    study = optuna.create_study(
        study_name="loss_comparison", storage=f"sqlite:///{db}", direction="maximize"
    )
    for loss in ("cross_entropy", "mean_squared_error"):
        for seed in (0, 1):
            epochs = [
                {
                    "epoch": e,
                    "train_loss": 1 / e,
                    "val_loss": 1.1 / e,
                    "train_accuracy": 0.8 + 0.03 * e,
                    "val_accuracy": 0.79 + 0.03 * e + seed / 100,
                }
                for e in (1, 2, 3)
            ]
            choices = optuna.distributions.CategoricalDistribution
            study.add_trial(
                optuna.trial.create_trial(
                    params={"loss": loss, "optimizer": "adam"},
                    distributions={
                        "loss": choices(["cross_entropy", "mean_squared_error"]),
                        "optimizer": choices(["adam"]),
                    },
                    value=epochs[-1]["val_accuracy"],
                    user_attrs={"epochs": epochs},
                )
            )
    return tmp_path


def test_report_writes_every_figure_and_table(saved, capsys):
    out = saved / "figures"
    assert (
        report.main(
            [
                "--out",
                str(out),
                "--runs",
                str(saved / "runs"),
                "--sweeps",
                str(saved / "sweeps"),
                "--data_dir",
                str(saved / "data"),
                "--wandb_mode",
                "disabled",
            ]
        )
        == 0
    )
    for name in (
        "samples_fashion_mnist.png",
        "samples_mnist.png",
        "confusion_fashion_mnist.png",
        "mistakes_fashion_mnist.png",
        "loss_comparison.png",
        "augment_mnist.png",
        "augment_fashion_mnist.png",
        "records.png",
    ):
        assert (out / name).stat().st_size > 5000, name
    best = (out / "best.md").read_text()
    assert "| fashion_mnist | `" in best  # from runs/best_fashion_mnist
    assert "| mnist | `" in best and "_aug_affine` |" in best  # the seed-0 record run
    records = (out / "records.md").read_text().splitlines()
    assert len(records) == 3 and records[2].startswith(
        "| `mnist_augment` | mnist | moving average 0.9, affine distortions (shift 2 px, "
        "rotation 10 deg, scale 10%) | 1 | 0, 1 | "
    )
    losses = (out / "loss_comparison.md").read_text()
    assert "| cross_entropy | adam | 2 | 88.50% (88.00..89.00) | 2.0 |" in losses
    mnist = (out / "mnist_transfer.md").read_text()
    assert mnist.count("\n") == 3 and "8 ReLU, adam lr 0.001" in mnist


def test_report_parts_are_checked(capsys):
    with pytest.raises(SystemExit):
        report.main(["plots"])


def _report_args(root, *parts, out=None):
    return [
        *parts,
        "--out",
        str(out or root / "figures"),
        "--runs",
        str(root / "runs"),
        "--sweeps",
        str(root / "sweeps"),
        "--data_dir",
        str(root / "data"),
        "--wandb_mode",
        "disabled",
    ]


def test_odd_saved_runs_are_passed_over_and_a_damaged_model_is_one_line(saved, capsys):
    """Folders that are not train.py's (config.json a list, metrics without epochs, another
    tool's files) were tracebacks; they are left out of the tables. A damaged model file
    stops its part in one line, and the other parts are still written (exit 1)."""
    odd = saved / "runs" / "mnist_transfer"
    for name, config, metrics in (
        ("a_list", [1, 2], {"status": "finished"}),
        ("no_epochs", {"format": "nbnet run 1"}, {"status": "finished"}),
        ("other_tool", {"name": "x"}, {"status": "finished", "epochs": [{}]}),
    ):
        (odd / name).mkdir()
        (odd / name / "config.json").write_text(json.dumps(config))
        (odd / name / "metrics.json").write_text(json.dumps(metrics))
    (saved / "runs" / "records" / "junk").mkdir()
    (saved / "runs" / "records" / "junk" / "metrics.json").write_text("[]")
    assert report.main(_report_args(saved, "mnist", "records")) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err and (saved / "figures" / "mnist_transfer.md").exists()
    assert (saved / "figures" / "mnist_transfer.md").read_text().count("\n") == 3
    (model,) = (saved / "runs" / "best_fashion_mnist").glob("*/model.npz")
    model.write_bytes(model.read_bytes()[:100])
    assert report.main(_report_args(saved, "best", "mnist")) == 1
    err = capsys.readouterr().err
    assert "report: best:" in err and "not an nbnet model file" in err
    assert "report: best not written" in err and "Traceback" not in err


def test_missing_data_or_an_unwritable_out_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(data, "_host_reachable", lambda host, timeout=3.0: False)
    (tmp_path / "data").mkdir()
    (tmp_path / "a_file").write_text("x")
    assert report.main(_report_args(tmp_path, "samples", out=tmp_path / "a_file" / "f")) == 1
    assert "choose another folder with --out" in capsys.readouterr().err
    assert report.main(_report_args(tmp_path, "samples", "augment")) == 1
    err = capsys.readouterr().err
    assert "report: samples:" in err and "give --data_dir the folder of both datasets" in err
    assert "report: samples, augment not written" in err and "Traceback" not in err
