"""train.py and evaluate.py run as a user runs them, on synthetic and on real data."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import evaluate
import train
from experiments.app import session
from experiments.app.progress import RichProgress
from experiments.data import DataError, as_inputs, load_dataset
from experiments.data import sources as data
from network import MLP
from tests.conftest import shared_dataset
from tests.synthetic import write_dataset


@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_host_reachable", lambda host, timeout=3.0: False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_MODE", "WANDB_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    write_dataset(tmp_path / "data")
    return tmp_path


def _args(tmp_path, *extra):
    return [
        "--data_dir",
        str(tmp_path / "data"),
        "--runs_dir",
        str(tmp_path / "runs"),
        "--wandb_dir",
        str(tmp_path),
        "-nhl",
        "1",
        "-sz",
        "16",
        "-b",
        "7",
        "-o",
        "adam",
        "-lr",
        "1e-3",
        "-w_d",
        "0",
        *extra,
    ]


def _only_run(tmp_path):
    (run_dir,) = list((tmp_path / "runs").iterdir())
    return run_dir


def test_train_offline_saves_a_model_that_reloads_and_predicts_the_same(synthetic, capsys):
    code = train.main(
        _args(synthetic, "-e", "1", "--wandb_entity", "myname", "--wandb_project", "myprojectname")
    )
    assert code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "W&B offline run in" in out and "wandb sync" in out
    run_dir = _only_run(synthetic)
    assert run_dir.name.endswith("hl_1_sz_16_bs_7_ac_ReLU_o_adam_lr_0.001_wd_0_wi_Xavier_ep_1_l_ce")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    assert metrics["status"] == "finished" and len(metrics["epochs"]) == 1
    assert metrics["blas_threads"] == 1 and "BLAS thread" in out  # a tiny network: one
    assert config["layer_widths"] == [16] and config["wandb_entity"] == "myname"
    assert (run_dir / "confusion_matrix.csv").exists()
    assert list((synthetic / "wandb").glob("offline-run-*")), "W&B offline run folder missing"

    net, metadata = MLP.load(run_dir / "model.npz")
    ds = load_dataset("mnist", synthetic / "data")
    reloaded_accuracy = float(np.mean(net.predict(as_inputs(ds.x_test)) == ds.y_test))
    assert reloaded_accuracy == metrics["test_accuracy"] == metadata["metrics"]["test_accuracy"]
    assert metrics["epochs"][0]["val_accuracy"] > 0.5, "the bands are easy to learn"

    assert evaluate.main([str(run_dir)]) == 0
    assert (run_dir / "confusion_matrix.png").stat().st_size > 1000
    assert f"testaccuracy{reloaded_accuracy:.2%}" in "".join(capsys.readouterr().out.split())


def test_partial_last_batch_and_epoch_metrics(synthetic):
    assert train.main(_args(synthetic, "-e", "2", "--wandb_mode", "disabled", "-q")) == 0
    metrics = json.loads((_only_run(synthetic) / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics["epochs"]] == [1, 2]
    for m in metrics["epochs"]:
        assert 0 <= m["train_accuracy"] <= 1 and np.isfinite(m["train_loss"])
    assert metrics["best_val_accuracy"] >= metrics["last_val_accuracy"]


def test_a_regularized_augmented_run_saves_and_tests_the_moving_average(synthetic, capsys):
    """--augment, --max_norm and --ema end to end: the summary names them, the run name and
    config.json record them, and the saved model is the average the test accuracy belongs to."""
    extras = ["--augment", "affine", "--aug_flip", "--max_norm", "2", "--ema", "0.9"]
    assert train.main(_args(synthetic, "-e", "2", "--wandb_mode", "disabled", *extras)) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())  # the summary's cells
    assert "max-norm 2, moving average 0.9, affine distortions" in out
    assert "the parameters' moving average" in out
    run_dir = _only_run(synthetic)
    assert run_dir.name.endswith("_mn_2_ema_0.9_aug_affine_aflip")
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["augment"], config["max_norm"], config["ema"]) == ("affine", 2.0, 0.9)
    net, _ = MLP.load(run_dir / "model.npz")
    assert np.linalg.norm(net.weights(0), axis=0).max() <= 2 * (1 + 1e-6)  # an average of capped
    ds = load_dataset("mnist", synthetic / "data")
    accuracy = float(np.mean(net.predict(as_inputs(ds.x_test)) == ds.y_test))
    assert accuracy == json.loads((run_dir / "metrics.json").read_text())["test_accuracy"]


def test_augment_on_images_that_are_not_square_is_a_one_line_error(tmp_path, capsys):
    from experiments.data import FILES, write_idx

    rng = np.random.default_rng(0)
    (tmp_path / "wide").mkdir()
    for key, stem in FILES.items():
        n = 60 if "train" in key else 20
        array = rng.integers(0, 255, (n, 28, 20)) if key.startswith("x") else np.arange(n) % 10
        write_idx(tmp_path / "wide" / stem, array.astype(np.uint8))
    argv = ["--data_dir", str(tmp_path / "wide"), "--runs_dir", str(tmp_path / "runs")]
    code = train.main([*argv, "--augment", "affine", "--wandb_mode", "disabled", "-e", "1"])
    assert code == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "distorts square images; these are 28x20" in out and "Traceback" not in out


def test_a_diverging_run_stops_with_advice(synthetic, capsys):
    code = train.main(
        _args(synthetic, "-e", "3", "-o", "sgd", "-lr", "1e30", "--wandb_mode", "disabled")
    )
    assert code == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "diverged" in out and "smaller --learning_rate" in out
    metrics = json.loads((_only_run(synthetic) / "metrics.json").read_text())
    assert metrics["status"] == "diverged"


def test_ctrl_c_saves_what_was_trained(synthetic, monkeypatch):
    original = RichProgress.on_epoch_end

    def interrupt_after_first_epoch(self, metrics):
        original(self, metrics)
        if metrics["epoch"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(RichProgress, "on_epoch_end", interrupt_after_first_epoch)
    code = train.main(_args(synthetic, "-e", "5", "--wandb_mode", "disabled"))
    assert code == session.EXIT_INTERRUPTED
    run_dir = _only_run(synthetic)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and len(metrics["epochs"]) == 1
    net, metadata = MLP.load(run_dir / "model.npz")
    assert metadata["metrics"]["status"] == "interrupted"


def test_missing_data_is_a_clear_error(synthetic, capsys):
    code = train.main(
        [
            "--data_dir",
            str(synthetic / "empty_dir_that_is_absent"),
            "--runs_dir",
            str(synthetic / "runs"),
            "--wandb_mode",
            "disabled",
        ]
    )
    assert code == 1
    assert "no such folder" in " ".join(capsys.readouterr().out.split())


def test_error_messages_are_printed_verbatim_not_as_rich_markup(synthetic, capsys, monkeypatch):
    # The "how to get the data" advice quotes pip's extras syntax;
    # Rich markup used to eat "[keras]".
    message = 'go online with Keras installed (pip install -e ".[keras]") [bold]or not[/bold]'

    def no_data(config, include_test):
        raise DataError(message)

    monkeypatch.setattr(session, "run_data", no_data)
    code = train.main(["--runs_dir", str(synthetic / "runs"), "--wandb_mode", "disabled"])
    assert code == 1
    assert f"data error: {message}" in " ".join(capsys.readouterr().out.split())


def test_real_fashion_mnist_one_epoch(tmp_path):
    folder = shared_dataset("fashion-mnist")
    code = train.main(
        [
            "--data_dir",
            str(folder),
            "--runs_dir",
            str(tmp_path / "runs"),
            "--wandb_mode",
            "disabled",
            "-e",
            "1",
            "-q",
        ]
    )
    assert code == 0
    run_dir = next((tmp_path / "runs").iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"][0]["val_accuracy"] > 0.8
    net, _ = MLP.load(run_dir / "model.npz")
    ds = load_dataset("fashion_mnist", folder)
    assert np.mean(net.predict(as_inputs(ds.x_test)) == ds.y_test) == metrics["test_accuracy"]


def test_no_evaluate_test_never_opens_the_test_files(synthetic):
    for stem in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (synthetic / "data" / stem).write_bytes(b"")
        (synthetic / "data" / stem).chmod(0)
    assert (
        train.main(_args(synthetic, "-e", "1", "--wandb_mode", "disabled", "--no-evaluate_test"))
        == 0
    )
    metrics = json.loads((_only_run(synthetic) / "metrics.json").read_text())
    assert "test_accuracy" not in metrics and metrics["status"] == "finished"


def test_dropout_run_is_reproducible_and_differs_from_no_dropout(synthetic):
    def val_loss(*extra):
        assert (
            train.main(_args(synthetic, "-e", "2", "--wandb_mode", "disabled", "-q", *extra)) == 0
        )
        run_dir = max((synthetic / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        return metrics["epochs"][-1]["val_loss"], metrics["epochs"][-1]["train_loss"]

    first = val_loss("--dropout", "0.3")
    assert val_loss("--dropout", "0.3") == first
    assert val_loss() != first


def test_metrics_json_is_strict_json_without_a_validation_set(synthetic):
    """--val_fraction 0 used to write NaN into metrics.json, which strict parsers reject."""
    assert (
        train.main(_args(synthetic, "-e", "1", "--val_fraction", "0", "--wandb_mode", "disabled"))
        == 0
    )
    text = (_only_run(synthetic) / "metrics.json").read_text()
    assert "NaN" not in text
    metrics = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert metrics["epochs"][0]["val_accuracy"] is None


def test_sigterm_stops_a_run_like_ctrl_c(synthetic):
    """`kill`, `timeout` and pre-emption send SIGTERM: the model trained so far is saved."""
    command = [
        sys.executable,
        str(Path(train.__file__)),
        *_args(synthetic, "-e", "100000", "--wandb_mode", "disabled"),
    ]
    log = synthetic / "train.log"  # a file, not a pipe: a full pipe would stall the child
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 240
        while "epoch" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)  # wait for the first finished epoch
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=240)
    output = log.read_text()
    assert process.returncode == 130, output[-2000:]
    assert "interrupted" in output and "Traceback" not in output
    metrics = json.loads((_only_run(synthetic) / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and (_only_run(synthetic) / "model.npz").exists()


def test_evaluate_refuses_a_truncated_model_and_an_unwritable_out_in_one_line(synthetic, capsys):
    assert train.main(_args(synthetic, "-e", "1", "--wandb_mode", "disabled")) == 0
    run_dir = _only_run(synthetic)
    blocker = synthetic / "a_file"
    blocker.write_text("x")
    assert evaluate.main([str(run_dir), "--out", str(blocker / "figures")]) == 1
    err = capsys.readouterr().out
    assert "choose another folder with --out" in err and "Traceback" not in err
    model = run_dir / "model.npz"
    model.write_bytes(model.read_bytes()[:100])
    assert evaluate.main([str(run_dir)]) == 1
    out = capsys.readouterr().out
    assert "not an nbnet model file" in out and "Traceback" not in out


def test_an_unwritable_runs_dir_is_a_one_line_error(synthetic, capsys):
    blocker = synthetic / "a_file"
    blocker.write_text("x")
    args = _args(synthetic, "-e", "1", "--wandb_mode", "disabled")
    args[args.index("--runs_dir") + 1] = str(blocker / "runs")
    assert train.main(args) == 1
    out = capsys.readouterr().out
    assert "choose another with --runs_dir" in out and "Traceback" not in out


def test_ctrl_c_while_loading_data_is_one_line(synthetic, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(session, "run_data", interrupted)
    assert train.main(_args(synthetic, "-e", "1", "--wandb_mode", "disabled")) == 130
    err = capsys.readouterr().err
    assert "interrupted before training started" in err and "Traceback" not in err


# ------------------------------------------------------------------ checkpoints and --resume
RESUME_ARGS = ["-e", "12", "-nhl", "2", "-sz", "64", "-b", "4", "-o", "nadam", "--dropout", "0.2"]


def _train_process(tmp_path, runs, *extra):
    return subprocess.Popen(
        [sys.executable, "train.py", *_args(tmp_path, *RESUME_ARGS, "-q", *extra)]
        + ["--runs_dir", str(tmp_path / runs), "--wandb_mode", "disabled"],
        cwd=Path(train.__file__).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _without_timings(metrics):
    return [{k: v for k, v in m.items() if k != "train_seconds"} for m in metrics["epochs"]]


def test_a_run_killed_with_sigkill_resumes_to_the_same_model_bit_for_bit(synthetic):
    from experiments.checkpoint import CheckpointFile

    whole = _train_process(synthetic, "whole")
    assert whole.wait(timeout=300) == 0, whole.stdout.read()
    killed = _train_process(synthetic, "killed")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill it once a few epochs are checkpointed
        run_dirs = list((synthetic / "killed").glob("*"))
        if run_dirs and CheckpointFile(run_dirs[0]).last_epoch() >= 3:
            break
        assert killed.poll() is None, killed.stdout.read()
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    (run_dir,) = run_dirs
    stopped_after = CheckpointFile(run_dir).last_epoch()
    assert 3 <= stopped_after < 12 and not (run_dir / "metrics.json").exists()

    assert train.main(["--resume", str(run_dir)]) == 0
    (whole_dir,) = list((synthetic / "whole").iterdir())
    expected, got = MLP.load(whole_dir / "model.npz")[0], MLP.load(run_dir / "model.npz")[0]
    np.testing.assert_array_equal(got.params, expected.params)
    metrics = [json.loads((d / "metrics.json").read_text()) for d in (whole_dir, run_dir)]
    assert _without_timings(metrics[1]) == _without_timings(metrics[0])
    assert metrics[1]["test_accuracy"] == metrics[0]["test_accuracy"]
    assert not (run_dir / "checkpoint.npz").exists(), "a finished run keeps no checkpoint"


def test_a_stop_while_the_kernels_compile_stops_before_training(synthetic):
    """Regression: SIGTERM during Numba's compilation was swallowed in a ctypes callback
    ("Exception ignored ..."), and the run trained to the end, marked finished."""
    process = subprocess.Popen(
        [sys.executable, "train.py", *_args(synthetic, *RESUME_ARGS, "-e", "400")]
        + ["--wandb_mode", "disabled"],
        cwd=Path(train.__file__).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in process.stdout:  # the step loop compiles in every process (seconds)
        if line.startswith("compiling the kernels"):
            break
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=300)
    assert process.returncode == session.EXIT_INTERRUPTED, out
    assert "interrupted" in out and "Exception ignored" not in out
    metrics = json.loads((_only_run(synthetic) / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["epochs"] == []


def test_an_interrupted_run_says_how_to_resume_and_a_finished_one_refuses(synthetic, capsys):
    process = _train_process(synthetic, "runs", "-e", "400")
    deadline = time.monotonic() + 300
    while not list((synthetic / "runs").glob("*/checkpoint.npz")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == session.EXIT_INTERRUPTED
    run_dir = _only_run(synthetic)
    assert f"resume it with: python train.py --resume {run_dir}\n" in out

    assert train.main(["--resume", str(run_dir), "--wandb_mode", "disabled"]) == 0
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "finished"
    capsys.readouterr()
    assert train.main(["--resume", str(run_dir)]) == 1
    assert "the run has finished; nothing to resume" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--resume", "{tmp}/nowhere"], "no config.json there"),
        (["--resume", "{run}", "--epochs", "3"], "drop --epochs"),
    ],
)
def test_bad_resume_arguments_are_one_line_errors(synthetic, capsys, argv, message):
    assert train.main(_args(synthetic, "-e", "1", "-q", "--wandb_mode", "disabled")) == 0
    run_dir = _only_run(synthetic)
    (run_dir / "metrics.json").unlink()  # as if killed
    argv = [a.format(tmp=synthetic, run=run_dir) for a in argv]
    with pytest.raises(SystemExit) as stop:
        train.main(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("content", ['{"name": "my notes"}', "[1, 2]", "null"])
def test_resume_of_a_folder_that_is_not_a_run_is_a_one_line_error(tmp_path, capsys, content):
    """Regression: a config.json that was not nbnet's was accepted, overwritten, and a whole
    default run trained into the user's folder."""
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "config.json").write_text(content)
    with pytest.raises(SystemExit) as stop:
        train.main(["--resume", str(folder)])
    assert stop.value.code == 2
    assert "not an nbnet run folder; nothing in it was changed" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["config.json"]
    assert (folder / "config.json").read_text() == content


def test_a_folder_being_trained_is_locked_and_a_dead_owners_lock_is_taken_over(synthetic, capsys):
    """Regression: two --resume of one folder at once both trained, colliding on
    checkpoint.npz.tmp. The lock names its live owner; a lock whose owner is gone (a
    SIGKILL) is taken over with a note."""
    import socket

    assert train.main(_args(synthetic, "-e", "1", "-q", "--wandb_mode", "disabled")) == 0
    run_dir = _only_run(synthetic)
    (run_dir / "metrics.json").unlink()  # as if killed
    lock = run_dir / "train.lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    assert train.main(["--resume", str(run_dir)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"is being trained by another process (pid {os.getpid()}" in out
    assert lock.exists()  # the owner's lock stays
    gone = subprocess.Popen(["true"])
    gone.wait()
    lock.write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname()}))
    assert train.main(["--resume", str(run_dir)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"from pid {gone.pid}, which is gone" in out
    assert not lock.exists()  # released at the end


def test_a_run_without_validation_data_says_so_instead_of_nan(synthetic, capsys):
    """Regression: --val_fraction 0 summed up as "best nan%"."""
    argv = _args(synthetic, "-e", "1", "--val_fraction", "0", "--wandb_mode", "disabled")
    assert train.main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "none (--val_fraction 0)" in out and "no validation data" in out
    assert "nan%" not in out and "loss nan" not in out


def test_a_dataset_too_small_for_a_validation_split_says_so(tmp_path, capsys):
    """One training image: --val_fraction 0.1 of it is none. The run says so (its summary
    said "best nan%"), and --restore_best, which would silently do nothing, is refused."""
    write_dataset(tmp_path / "data", n_train=1, n_test=1)
    argv = _args(tmp_path, "-e", "1", "--wandb_mode", "disabled")
    assert train.main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "of 1 training image(s) is none: no validation data" in out and "nan%" not in out
    assert "none (--val_fraction 0.1 of this dataset is no image)" in out
    assert train.main([*argv, "--restore_best"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "--restore_best: need validation data" in out and "Traceback" not in out


def test_resuming_on_other_training_data_is_refused_in_one_line(synthetic, capsys):
    """The digests of the files a run started on are in its config.json: a --resume whose
    --data_dir holds other files (the other dataset's, another copy) trains nothing."""
    assert train.main(_args(synthetic, "-e", "1", "-q", "--wandb_mode", "disabled")) == 0
    run_dir = _only_run(synthetic)
    (run_dir / "metrics.json").unlink()  # as if killed
    write_dataset(synthetic / "other", n_train=600, n_test=100, seed=7)
    argv = ["--resume", str(run_dir), "--data_dir", str(synthetic / "other")]
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    assert train.main([*argv, "--wandb_mode", "disabled"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "holds other training data than the run started on" in out
    assert f"--data_dir {synthetic / 'data'}" in out and "Traceback" not in out
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before
    argv[-1] = str(synthetic / "data")  # its own files: resumed
    assert train.main([*argv, "--wandb_mode", "disabled"]) == 0


def test_a_diverged_run_is_not_resumed(synthetic, capsys):
    argv = _args(synthetic, "-e", "3", "-o", "sgd", "-lr", "1e30", "--wandb_mode", "disabled")
    assert train.main(argv) == 1
    capsys.readouterr()
    assert train.main(["--resume", str(_only_run(synthetic))]) == 1
    assert "the run diverged and would diverge again" in " ".join(capsys.readouterr().out.split())


def test_a_resumed_run_continues_its_wandb_run(synthetic):
    from tests.experiments.test_tracking import fake_wandb

    wandb = fake_wandb()
    config = train.parse_command(_args(synthetic, "-e", "2", "-q", "--wandb_mode", "online"))[0]
    original = RichProgress.on_epoch_end

    def interrupt(self, metrics):
        original(self, metrics)
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RichProgress, "on_epoch_end", interrupt)
        first = session.run(config, wandb_module=wandb)
    assert first.status == "interrupted"
    ((mode, started),) = wandb.calls
    assert "id" not in started and "resume" not in started
    run_id = json.loads((first.run_dir / "wandb_run.json").read_text())["id"]

    resumed, again = train.parse_command(["--resume", str(first.run_dir)])
    assert session.run(resumed, wandb_module=wandb, resume=again).status == "finished"
    assert wandb.calls[-1][1]["id"] == run_id and wandb.calls[-1][1]["resume"] == "allow"


# ------------------------------------------------------------------ dataset identity
def test_training_on_the_other_datasets_files_warns_and_strict_data_refuses(tmp_path, capsys):
    fashion = shared_dataset("fashion-mnist")
    argv = ["-d", "mnist", "--data_dir", str(fashion), "--runs_dir", str(tmp_path / "runs")]
    argv += ["--wandb_mode", "disabled", "-q", "--no-evaluate_test", "--no-save_model"]
    assert train.main([*argv, "--strict_data"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "data error:" in out and "holds fashion_mnist's published files" in out
    assert train.main([*argv, "-e", "1", "-nhl", "1", "-sz", "8", "--val_fraction", "0.5"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "warning:" in out and "pass -d fashion_mnist" in out


def test_a_model_records_its_dataset_and_evaluate_refuses_another(synthetic, capsys):
    assert train.main(_args(synthetic, "-e", "1", "-q", "--wandb_mode", "disabled")) == 0
    run_dir = _only_run(synthetic)
    _, metadata = MLP.load(run_dir / "model.npz")
    assert metadata["dataset"]["name"] == "fashion_mnist"
    assert metadata["dataset"]["verified"] is False  # synthetic files
    capsys.readouterr()
    assert evaluate.main([str(run_dir), "-d", "mnist"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "the model was trained on fashion_mnist; its accuracy on mnist would mean nothing" in out
    # Its own dataset's name, but MNIST's published files: refused too.
    assert evaluate.main([str(run_dir), "--data_dir", str(shared_dataset("mnist"))]) == 1
    assert "holds mnist's published files" in " ".join(capsys.readouterr().out.split())


def _full_disk(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_a_full_disk_stops_the_run_in_one_line_and_it_resumes_later(synthetic, capsys):
    from experiments.checkpoint import CheckpointFile

    original = CheckpointFile.save
    saves = {"n": 0}

    def fill_up_after_two(self, checkpoint):
        saves["n"] += 1
        if saves["n"] > 2:
            _full_disk()
        original(self, checkpoint)

    argv = _args(synthetic, "-e", "4", "-q", "--wandb_mode", "disabled")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CheckpointFile, "save", fill_up_after_two)
        assert train.main(argv) == 1
    run_dir = _only_run(synthetic)
    out = " ".join(capsys.readouterr().out.split())
    assert "could not write a checkpoint into" in out and "(No space left on device)" in out
    assert "Traceback" not in out and CheckpointFile(run_dir).last_epoch() == 2
    assert train.main(["--resume", str(run_dir)]) == 0
    assert len(json.loads((run_dir / "metrics.json").read_text())["epochs"]) == 4


@pytest.mark.parametrize("full_at", ["model.npz", "confusion_matrix.csv"])
def test_a_full_disk_at_the_final_save_keeps_the_checkpoint_to_finish_from(
    synthetic, capsys, full_at
):
    """The disk fills at the model, or before it at the test's confusion matrix (that was a
    traceback): one line, and the run finishes from its checkpoint later."""
    argv = _args(synthetic, "-e", "2", "-q", "--wandb_mode", "disabled")
    with pytest.MonkeyPatch.context() as patch:
        if full_at == "model.npz":
            patch.setattr(MLP, "save", _full_disk)
        else:
            patch.setattr(session, "write_confusion_csv", _full_disk)
        assert train.main(argv) == 1
    run_dir = _only_run(synthetic)
    out = " ".join(capsys.readouterr().out.split())
    assert "free space, then finish it from its last checkpoint" in out
    assert train.main(["--resume", str(run_dir)]) == 0
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "finished"
    assert (run_dir / "model.npz").exists()


def test_a_network_too_large_for_this_machine_is_a_one_line_error(synthetic, capsys):
    """Regression: -sz 100000 ended in NumPy's allocation traceback (37.5 GiB for the
    parameters alone), after the run folder was made; a network that fits but not with its
    gradients and the optimizer's state would have been killed by the system mid-run."""
    argv = _args(synthetic, "--hidden_sizes", "3000000", "3000000", "--wandb_mode", "disabled")
    assert train.main(argv) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "needs about" in out and "GiB for its parameters, their gradients and adam's state" in out
    )
    assert "use a smaller --hidden_size" in out and "Traceback" not in out
    assert not (synthetic / "runs").exists() or not any((synthetic / "runs").iterdir())
