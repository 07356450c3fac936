"""W&B tracking with a fake at the boundary: names, modes, fallbacks, never fatal."""

import types

import pytest

from experiments.app.tracking import Tracker, resolve_mode
from experiments.config import parse_config, run_name


class FakeRun:
    def __init__(self, mode, fail_on_log=False):
        self.mode, self.fail_on_log = mode, fail_on_log
        self.logged, self.summary, self.finished = [], {}, None
        self.dir = "/tmp/wandb/offline-run-x/files"
        self.url = "https://wandb.ai/me/p/runs/x" if mode == "online" else None

    def log(self, values, step=None):
        if self.fail_on_log:
            raise ConnectionError("server went away")
        self.logged.append((step, values))

    def finish(self, exit_code=0):
        self.finished = exit_code


def fake_wandb(fail_online=False, fail_on_log=False):
    calls = []

    def init(mode, settings, **kwargs):
        calls.append((mode, kwargs))
        if mode == "online" and fail_online:
            raise RuntimeError("api.wandb.ai unreachable\nmore lines")
        run = FakeRun(mode, fail_on_log)
        run.id = kwargs.get("id", f"run{len(calls)}")
        return run

    module = types.SimpleNamespace(
        init=init,
        calls=calls,
        Settings=lambda **kw: kw,
        Image=lambda path, caption=None: ("image", path),
        plot=types.SimpleNamespace(confusion_matrix=lambda **kw: ("cm", kw)),
    )
    return module


def _config(mode="online"):
    config = parse_config(["--wandb_mode", mode, "-we", "myname", "-wp", "myprojectname"])
    return config


def test_run_name_is_built_from_hyperparameters():
    config = parse_config(
        ["-nhl", "3", "-sz", "128", "-b", "16", "-a", "tanh", "-o", "adam", "-lr", "1e-4"]
    )
    assert run_name(config).startswith("hl_3_sz_128_bs_16_ac_tanh_o_adam_lr_0.0001")
    config = parse_config(["--dropout", "0.2", "--lr_schedule", "cosine", "--restore_best"])
    assert run_name(config).endswith("_l_ce_do_0.2_lrs_cosine_rb")
    config = parse_config(["--hidden_sizes", "256", "128", "-l", "mean_squared_error"])
    assert run_name(config).startswith("hs_256-128_bs_") and run_name(config).endswith("_l_mse")


def test_auto_mode_follows_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_mode("auto") == "offline"
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password abc123\n")
    (tmp_path / "netrc").chmod(0o600)
    assert resolve_mode("auto") == "online"
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    monkeypatch.setenv("WANDB_API_KEY", "k")
    assert resolve_mode("auto") == "online"
    assert resolve_mode("disabled") == "disabled"
    with pytest.raises(ValueError, match="choose from auto"):
        resolve_mode("cloud")


def test_online_logs_config_epochs_summary_and_confusion_matrix():
    wandb = fake_wandb()
    tracker = Tracker(_config(), "a_name", wandb_module=wandb)
    assert tracker.mode == "online" and tracker.message == "W&B run at https://wandb.ai/me/p/runs/x"
    mode, kwargs = wandb.calls[0]
    assert kwargs["name"] == "a_name" and kwargs["entity"] == "myname"
    assert kwargs["project"] == "myprojectname" and kwargs["config"]["optimizer"] == "nadam"
    tracker.log_epoch({"epoch": 2, "val_accuracy": 0.9})
    tracker.log_confusion_matrix([0, 1], [1, 1], ["a", "b"])
    tracker.log_summary({"test_accuracy": 0.88})
    run = tracker.run
    tracker.finish()
    assert run.logged[0] == (2, {"val_accuracy": 0.9})
    assert run.logged[1][1]["test_confusion_matrix"][1]["class_names"] == ["a", "b"]
    assert run.summary == {"test_accuracy": 0.88} and run.finished == 0


def test_unreachable_online_falls_back_to_offline():
    notes = []
    tracker = Tracker(
        _config(), "n", wandb_module=fake_wandb(fail_online=True), notify=notes.append
    )
    assert tracker.mode == "offline" and tracker.active
    assert "online start failed (api.wandb.ai unreachable); logging offline" in notes[0]
    assert "wandb sync" in tracker.message


def test_errors_while_logging_disable_tracking_instead_of_raising():
    notes = []
    tracker = Tracker(
        _config(), "n", wandb_module=fake_wandb(fail_on_log=True), notify=notes.append
    )
    tracker.log_epoch({"epoch": 1, "val_accuracy": 0.5})
    assert not tracker.active and "tracking disabled" in notes[0]
    tracker.log_epoch({"epoch": 2, "val_accuracy": 0.5})  # silently ignored now
    tracker.finish()


def test_disabled_never_imports_wandb():
    tracker = Tracker(_config("disabled"), "n", wandb_module=None)
    assert not tracker.active and tracker.message == "W&B disabled"


@pytest.mark.parametrize(
    "environment, mode",
    [
        ({"WANDB_MODE": "disabled"}, "disabled"),
        ({"WANDB_MODE": "offline"}, "offline"),
        ({"WANDB_MODE": "dryrun"}, "offline"),
        ({"WANDB_DISABLED": "true"}, "disabled"),
        ({"WANDB_MODE": "online", "WANDB_DISABLED": "true"}, "disabled"),
    ],
)
def test_auto_mode_follows_wandbs_environment_variables(monkeypatch, environment, mode):
    """`WANDB_MODE=disabled python train.py` used to write an offline run anyway."""
    for name in ("WANDB_MODE", "WANDB_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert resolve_mode("auto") == mode
    assert resolve_mode("online") == "online"  # the flag, when given, wins


def test_an_unreachable_server_is_known_in_seconds(monkeypatch):
    """W&B's client retries an unreachable server for 20-40 s; a connection attempt
    tells in at most REACH_TIMEOUT_S, so the run logs offline at once."""
    import socket
    import time

    from experiments.app import tracking

    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    started = time.monotonic()
    assert not tracking.server_reachable()
    assert time.monotonic() - started <= tracking.REACH_TIMEOUT_S + 1
    with socket.create_server(("127.0.0.1", 0)) as server:
        monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert tracking.server_reachable()
