"""Weights & Biases tracking that never hangs or kills a training run.

Modes (``--wandb_mode``): ``online`` logs to the W&B server, ``offline`` writes
the run under ``./wandb`` for a later ``wandb sync``, ``disabled`` logs nothing,
and ``auto`` (the default) is online when W&B credentials are configured
(``WANDB_API_KEY`` or a ``~/.netrc`` entry from ``wandb login``) and offline
otherwise. When an online start fails (no network, bad key, unknown entity) the
run continues offline and says so; any other W&B error disables tracking for the
rest of the run instead of stopping the training.
"""

import json
import netrc
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from ..config.schema import WANDB_MODES as MODES

INIT_TIMEOUT_S = 30


#: Seconds to wait for the W&B server to accept a connection before logging offline.
REACH_TIMEOUT_S = 3.0


def server_address():
    """``(host, port)`` of the W&B server: ``WANDB_BASE_URL``, else api.wandb.ai."""
    url = urlsplit(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai")
    return url.hostname or "api.wandb.ai", url.port or (80 if url.scheme == "http" else 443)


def server_reachable(timeout=REACH_TIMEOUT_S):
    """True when the W&B server accepts a TCP connection within ``timeout`` seconds.

    Asked before an online start: W&B's own client retries an unreachable server for
    20-40 s before it gives up (measured), and a sweep then ended in a traceback."""
    try:
        with socket.create_connection(server_address(), timeout=timeout):
            return True
    except OSError:
        return False


def credentials_configured():
    """True when W&B has an API key through the environment or ``~/.netrc``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
        auth = netrc.netrc(path).authenticators("api.wandb.ai")
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(auth and auth[2])


def resolve_mode(mode):
    """Map ``auto`` to a mode; other modes pass through.

    ``auto`` (the flag's default) follows W&B's own convention first: ``WANDB_DISABLED``
    set true, or ``WANDB_MODE`` (``online``, ``offline``, ``disabled``; ``dryrun`` is
    offline), then online when credentials are configured, offline otherwise.
    """
    if mode not in MODES:
        raise ValueError(f"unknown W&B mode {mode!r}; choose from {', '.join(MODES)}")
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_DISABLED", "").strip().lower() in ("true", "1", "yes"):
        return "disabled"
    env_mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if env_mode in ("online", "offline", "disabled"):
        return env_mode
    if env_mode == "dryrun":
        return "offline"
    return "online" if credentials_configured() else "offline"


class Tracker:
    """A W&B run, or a silent stand-in when tracking is disabled or broken.

    Parameters
    ----------
    config : experiments.config.RunConfig or mapping
        Logged as the run's config (a RunConfig as its ``to_dict()``);
        ``wandb_project``, ``wandb_entity`` and ``wandb_mode`` choose where it goes.
    name : str
        The run's display name.
    directory : path-like
        Where W&B writes its files (``./`` gives ``./wandb``).
    group : str, optional
        Groups runs of one sweep together.
    wandb_module : module, optional
        Injected by tests; ``import wandb`` otherwise.
    resume_id : str, optional
        The id of a W&B run to continue (a resumed training run), else a new run.
    """

    def __init__(
        self,
        config,
        name,
        directory=".",
        group=None,
        wandb_module=None,
        notify=print,
        resume_id=None,
    ):
        values = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        self.mode = resolve_mode(values.get("wandb_mode", "auto"))
        self.run = None
        self.notify = notify
        self.message = "W&B disabled"
        if self.mode == "disabled":
            return
        try:
            self.wandb = wandb_module or __import__("wandb")
        except ImportError:
            self.message = "W&B not installed; tracking disabled"
            return
        kwargs = dict(
            project=values.get("wandb_project"),
            entity=values.get("wandb_entity"),
            name=name,
            group=group,
            config=values,
            dir=str(directory),
            reinit="finish_previous",
        )
        if resume_id:
            kwargs.update(id=resume_id, resume="allow")
        if self.mode == "online" and wandb_module is None and not server_reachable():
            host, port = server_address()
            self.notify(f"W&B online start failed ({host}:{port} unreachable); logging offline")
            self.mode = "offline"
        try:
            self.run = self._init(self.mode, kwargs)
        except Exception as exc:  # any failure of an online start: keep training, offline
            if self.mode != "online":
                self.message = f"W&B failed to start ({exc}); tracking disabled"
                return
            self.notify(f"W&B online start failed ({str(exc).splitlines()[0]}); logging offline")
            self.mode = "offline"
            try:
                self.run = self._init("offline", kwargs)
            except Exception as exc2:
                self.message = f"W&B failed to start ({exc2}); tracking disabled"
                return
        self.message = self._where()

    @classmethod
    def attach(cls, run, wandb_module, notify=print):
        """Wrap a run that someone else started (``wandb.agent`` starts its runs)."""
        tracker = cls.__new__(cls)
        tracker.mode, tracker.run, tracker.wandb, tracker.notify = (
            "online",
            run,
            wandb_module,
            notify,
        )
        tracker.message = tracker._where()
        return tracker

    def _init(self, mode, kwargs):
        settings = self.wandb.Settings(init_timeout=INIT_TIMEOUT_S, silent=True)
        return self.wandb.init(mode=mode, settings=settings, **kwargs)

    def _where(self):
        directory = getattr(self.run, "dir", None)
        if self.mode == "offline":
            run_dir = Path(directory).parent if directory else Path("wandb")
            return f"W&B offline run in {run_dir}; upload it with: wandb sync {run_dir}"
        url = getattr(self.run, "url", None)
        return f"W&B run at {url}" if url else "W&B online run"

    @property
    def active(self):
        return self.run is not None

    @property
    def run_id(self):
        return getattr(self.run, "id", None)

    def _safely(self, action, *args, **kwargs):
        if self.run is None:
            return
        try:
            action(*args, **kwargs)
        except Exception as exc:  # tracking must never stop training
            self.notify(f"W&B error ({exc}); tracking disabled for the rest of this run")
            self.run = None

    def log_epoch(self, metrics):
        """Per-epoch metrics with the epoch as the W&B step."""
        values = {k: v for k, v in metrics.items() if k != "epoch"}
        self._safely(lambda: self.run.log(values, step=int(metrics["epoch"])))

    def log_summary(self, values):
        def update():
            for key, value in values.items():
                self.run.summary[key] = value

        self._safely(update)

    def log_confusion_matrix(self, y_true, y_pred, class_names, key="test_confusion_matrix"):
        def log():
            plot = self.wandb.plot.confusion_matrix(
                y_true=list(map(int, y_true)),
                preds=list(map(int, y_pred)),
                class_names=list(class_names),
            )
            self.run.log({key: plot})

        self._safely(log)

    def log_image(self, key, path, caption=None):
        self._safely(lambda: self.run.log({key: self.wandb.Image(str(path), caption=caption)}))

    def finish(self, exit_code=0):
        self._safely(lambda: self.run.finish(exit_code=exit_code))
        self.run = None


#: Where a run folder remembers its W&B run, so that ``--resume`` continues that run.
TRACKING_FILE = "wandb_run.json"


def tracked_run_id(run_dir):
    """The W&B run id a run folder recorded (None if it has none)."""
    try:
        return json.loads((Path(run_dir) / TRACKING_FILE).read_text()).get("id")
    except (OSError, ValueError, AttributeError):
        return None


def remember_tracked_run(run_dir, tracker):
    """Record ``tracker``'s W&B run id and mode in the run folder (when it has a run)."""
    if tracker.run_id:
        (Path(run_dir) / TRACKING_FILE).write_text(
            json.dumps({"id": tracker.run_id, "mode": tracker.mode}) + "\n"
        )
