"""Every setting of a run, defined once (:mod:`.schema`), and what is made from them.

- :mod:`.schema`: :class:`RunConfig`, its fields' metadata and the checks of their values;
- :mod:`.parser`: ``train.py``'s command line;
- :mod:`.resume`: a run folder's ``config.json`` and what ``--resume`` may change;
- :mod:`.present`: the run name, the extensions in words, the command that repeats a run.
"""

from .parser import build_parser, parse_command, parse_config
from .present import command, regularization, run_name
from .resume import (
    CONFIG_FILE,
    RESUME_MAY_CHANGE,
    RUN_FORMAT,
    config_of_run,
    from_saved,
    is_run_config,
)
from .schema import (
    DEFAULTS,
    EXTENSIONS,
    FIELDS,
    MAX_SCALE,
    MAX_SHIFT,
    SETTINGS,
    SWEEPABLE,
    WANDB_MODES,
    ConfigError,
    Range,
    RunConfig,
    check_combination,
    check_value,
    choices_of,
)

__all__ = [
    "CONFIG_FILE",
    "DEFAULTS",
    "EXTENSIONS",
    "FIELDS",
    "MAX_SCALE",
    "MAX_SHIFT",
    "RESUME_MAY_CHANGE",
    "RUN_FORMAT",
    "SETTINGS",
    "SWEEPABLE",
    "WANDB_MODES",
    "ConfigError",
    "Range",
    "RunConfig",
    "build_parser",
    "check_combination",
    "check_value",
    "choices_of",
    "command",
    "config_of_run",
    "from_saved",
    "is_run_config",
    "parse_command",
    "parse_config",
    "regularization",
    "run_name",
]
