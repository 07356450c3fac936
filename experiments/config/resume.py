"""A run folder's settings: what ``config.json`` holds and what ``--resume`` may change."""

import json
from pathlib import Path

from .schema import DEFAULTS, FIELDS, SETTINGS, ConfigError, RunConfig

#: Settings that may differ when a run is resumed: where the data is and what is shown.
RESUME_MAY_CHANGE = tuple(name for name, meta in SETTINGS.items() if meta["resumable"])
#: The settings file of a run folder.
CONFIG_FILE = "config.json"
#: The format marker of a run folder's config.json: the folder is nbnet's when it says so.
RUN_FORMAT = "nbnet run 1"


def config_of_run(run_dir, given=None):
    """The settings a run folder was started with, for ``--resume``.

    ``given`` holds the command line's values; those in :data:`RESUME_MAY_CHANGE`
    replace the run's when they differ from their defaults, and any other setting
    that differs is an error (a resumed run trains as it started).
    """
    path = Path(run_dir) / CONFIG_FILE
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"--resume {run_dir}: no {CONFIG_FILE} there; give a run folder that "
            "train.py created (runs/<time>_<name>)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--resume {run_dir}: cannot read {CONFIG_FILE} ({exc})") from None
    if not is_run_config(saved):
        raise ConfigError(
            f"--resume {run_dir}: its {CONFIG_FILE} was not written by train.py, so this is "
            "not an nbnet run folder; nothing in it was changed (give a folder that train.py "
            "created, runs/<time>_<name>)"
        )
    given = {k: v for k, v in (given or {}).items() if v != DEFAULTS[k]}
    fixed = [f"--{name}" for name in given if name not in RESUME_MAY_CHANGE]
    if fixed:
        raise ConfigError(
            f"--resume continues the run with its own settings; drop {', '.join(fixed)} "
            f"(only {', '.join(f'--{n}' for n in RESUME_MAY_CHANGE)} may change)"
        )
    return from_saved(saved, given)


def is_run_config(saved):
    """True for the content of a ``config.json`` that train.py wrote: it carries
    :data:`RUN_FORMAT`, or (folders from before the marker) every setting and the layer
    widths."""
    if not isinstance(saved, dict):
        return False
    if "format" in saved:
        return saved["format"] == RUN_FORMAT
    return "layer_widths" in saved and set(FIELDS) - set(RESUME_MAY_CHANGE) <= set(saved)


def from_saved(saved, changes=None):
    """The RunConfig of a run's ``config.json`` content (its extra keys, such as
    ``layer_widths``, left out), with ``changes`` applied."""
    values = {k: v for k, v in saved.items() if k in FIELDS}
    return RunConfig(**{**values, **(changes or {})})
