"""RunConfig: every setting of a run, defined once.

Each field of :class:`RunConfig` carries its default, its type, its range or
choices, its short flag, its ``--help`` text and its place in the run's name.
``train.py``'s argument parser (:func:`build_parser`), the checks of a sweep's
YAML values (:func:`check_value`), the run name (:meth:`RunConfig.name`), the
config W&B and ``config.json`` receive (:meth:`RunConfig.to_dict`) and the
``train.py`` command printed for a sweep's best trial (:meth:`RunConfig.command`)
are all generated from these fields; nothing else lists the settings.

The shipped defaults are the best configuration of the project's own sweeps
among those that use only the assignment's flags (docs/results.md, "How the
defaults were chosen"); the extensions (:data:`EXTENSIONS`: dropout, a
schedule, restore-best, early stopping, max-norm, the moving average,
augmentation) are off, so a default run keeps the assignment's behaviour.
"""

import argparse
import dataclasses
import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import optimizers
from kernels.config import ACTIVATIONS, LOSSES
from network.backends import DEVICES
from network.init import INITIALIZERS

from .app.tracking import MODES
from .data import CLASS_NAMES
from .training import SCHEDULES

#: ``--augment`` modes (kernels/augment.py).
AUGMENTATIONS = ("none", "affine")


class ConfigError(ValueError):
    """A setting has a wrong value; the message names the setting and what it accepts."""


@dataclass(frozen=True)
class Range:
    """Numbers from ``low`` to ``high``; ``open_low``/``open_high`` exclude the ends."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def holds(self, value):
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.open_high else value > self.high):
            return False
        return True

    def __str__(self):
        if self.low is not None and self.high is not None:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            return f"in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{'>' if self.open_low else '>='} {self.low:g}"
        return f"{'<' if self.open_high else '<='} {self.high:g}"


#: Distortions that keep an image recognisable: a shift of at most a third of a 28-pixel
#: image, sizes from half to one and a half. Beyond them a run trains on blank or unreadable
#: images without a word.
MAX_SHIFT, MAX_SCALE = 8.0, 0.5

AT_LEAST_1 = Range(1)
AT_LEAST_0 = Range(0)
POSITIVE = Range(0, open_low=True)
FRACTION = Range(0, 1, open_high=True)  # [0, 1)


def setting(
    default,
    help,
    *,
    flags=(),
    group="training",
    kind=str,
    choices=None,
    within=None,
    many=False,
    sweepable=True,
    tag=None,
    tag_values=None,
    metavar=None,
    boolean="optional",
):
    """A RunConfig field with its metadata.

    Parameters
    ----------
    default
        The default value.
    help : str
        ``--help`` text.
    flags : tuple of str
        Short spellings (``("-lr",)``); the long one is always ``--<name>``.
    group : str
        ``--help`` section.
    kind : type
        ``int``, ``float``, ``str`` or ``bool``; with ``many``, the type of each item.
    choices : tuple or callable
        Accepted values (a callable is asked when needed: registries fill late).
    within : Range
        Accepted numbers.
    many : bool
        A list of values (``--hidden_sizes 256 128``), stored as a tuple.
    sweepable : bool
        False for settings that say where things go rather than what is trained.
    tag, tag_values
        The setting's tag in the run name and, optionally, abbreviations of values.
    boolean : str
        For ``bool``: ``"optional"`` gives ``--x/--no-x``, ``"switch"`` a plain ``--x``.
    """
    meta = dict(
        help=help,
        flags=tuple(flags),
        group=group,
        kind=kind,
        choices=choices,
        within=within,
        many=many,
        sweepable=sweepable,
        tag=tag,
        tag_values=tag_values,
        metavar=metavar,
        boolean=boolean,
    )
    return field(default=default, metadata=meta)


WANDB, DATA, TRAINING, MODEL, OUTPUT = "Weights & Biases", "data", "training", "model", "output"


@dataclass(frozen=True)
class RunConfig:
    """The settings of one run; every value checked on construction (:class:`ConfigError`)."""

    # The order of the fields is the order of the run name's tags (RunConfig.name).
    num_layers: int = setting(
        2,
        "number of hidden layers (0 = softmax regression)",
        flags=("-nhl",),
        group=MODEL,
        kind=int,
        within=AT_LEAST_0,
        tag="hl",
    )
    hidden_size: int = setting(
        1024,
        "neurons in each hidden layer",
        flags=("-sz",),
        group=MODEL,
        kind=int,
        within=AT_LEAST_1,
        tag="sz",
    )
    hidden_sizes: tuple | None = setting(
        None,
        "per-layer widths, e.g. --hidden_sizes 256 128; overrides -nhl and -sz",
        group=MODEL,
        kind=int,
        within=AT_LEAST_1,
        many=True,
        metavar="N",
        tag="hs",
    )
    batch_size: int = setting(
        64,
        "mini-batch size (any size >= 1; the last partial batch is used too)",
        flags=("-b",),
        kind=int,
        within=AT_LEAST_1,
        tag="bs",
    )
    activation: str = setting(
        "ReLU",
        "activation of the hidden layers",
        flags=("-a",),
        group=MODEL,
        choices=lambda: tuple(ACTIVATIONS),
        tag="ac",
    )
    optimizer: str = setting(
        "nadam", "update rule: ", flags=("-o",), choices=lambda: tuple(optimizers.REGISTRY), tag="o"
    )
    learning_rate: float = setting(
        0.00022975, "learning rate", flags=("-lr",), kind=float, within=POSITIVE, tag="lr"
    )
    weight_decay: float = setting(
        0.0001,
        "L2 weight decay (on weights, not biases)",
        flags=("-w_d",),
        kind=float,
        within=AT_LEAST_0,
        tag="wd",
    )
    weight_init: str = setting(
        "Xavier",
        "random = N(0, 0.01^2); Xavier = Glorot uniform; He = N(0, 2/fan_in)",
        flags=("-w_i",),
        group=MODEL,
        choices=lambda: tuple(INITIALIZERS),
        tag="wi",
    )
    epochs: int = setting(
        30, "epochs to train", flags=("-e",), kind=int, within=AT_LEAST_1, tag="ep"
    )
    loss: str = setting(
        "cross_entropy",
        "training loss",
        flags=("-l",),
        choices=lambda: tuple(LOSSES),
        tag="l",
        tag_values={"cross_entropy": "ce", "mean_squared_error": "mse"},
    )
    dropout: float = setting(
        0.0,
        "probability of dropping each hidden unit in training (inverted dropout; 0 = off)",
        kind=float,
        within=FRACTION,
        tag="do",
    )
    lr_schedule: str = setting(
        "constant",
        "constant, or cosine: decay the learning rate per epoch from -lr towards 0",
        choices=lambda: SCHEDULES,
        tag="lrs",
    )
    restore_best: bool = setting(
        False,
        "end with the parameters of the epoch with the best "
        "validation accuracy instead of the last epoch's",
        kind=bool,
        tag="rb",
    )
    early_stopping: int = setting(
        0,
        "stop after PATIENCE epochs without a better validation accuracy (0 = off)",
        kind=int,
        within=AT_LEAST_0,
        metavar="PATIENCE",
        tag="es",
    )
    input_dropout: float = setting(
        0.0,
        "probability of dropping each input pixel in training (inverted dropout; 0 = off)",
        kind=float,
        within=FRACTION,
        tag="ido",
    )
    max_norm: float = setting(
        0.0,
        "cap each hidden unit's incoming weight vector at this L2 norm after every update "
        "(max-norm, as with dropout in Srivastava et al. 2014; 0 = off)",
        kind=float,
        within=AT_LEAST_0,
        tag="mn",
    )
    ema: float = setting(
        0.0,
        "validate, test and save the exponential moving average of the parameters with "
        "this decay per step, e.g. 0.999 (0 = off)",
        kind=float,
        within=FRACTION,
        metavar="DECAY",
        tag="ema",
    )
    augment: str = setting(
        "none",
        "affine: distort every training image anew each epoch by a random rotation, "
        "scale and shift (and mirror, with --aug_flip); none: train on the images as they are",
        choices=AUGMENTATIONS,
        tag="aug",
    )
    aug_shift: float = setting(
        2.0,
        "--augment affine: largest shift, in pixels along each axis (at most 8: a third "
        "of a 28-pixel image)",
        kind=float,
        within=Range(0, MAX_SHIFT),
        tag="ash",
    )
    aug_rotate: float = setting(
        10.0,
        "--augment affine: largest rotation, in degrees",
        kind=float,
        within=Range(0, 180),
        tag="arot",
    )
    aug_scale: float = setting(
        0.1,
        "--augment affine: largest change of size, as a fraction (0.1: 90%% to 110%%; at most 0.5)",
        kind=float,
        within=Range(0, MAX_SCALE),
        tag="asc",
    )
    aug_flip: bool = setting(
        False,
        "--augment affine: mirror left-right half the time (suits clothes, not digits)",
        kind=bool,
        tag="aflip",
    )
    momentum: float = setting(
        0.9, "momentum for momentum and nag", flags=("-m",), kind=float, within=FRACTION
    )
    beta: float = setting(
        0.9, "decay rate for rmsprop", flags=("-beta",), kind=float, within=FRACTION
    )
    beta1: float = setting(
        0.9,
        "first-moment decay for adam, nadam and eve",
        flags=("-beta1",),
        kind=float,
        within=FRACTION,
    )
    beta2: float = setting(
        0.999,
        "second-moment decay for adam, nadam and eve",
        flags=("-beta2",),
        kind=float,
        within=FRACTION,
    )
    epsilon: float = setting(
        1e-8, "epsilon used by the optimizers", flags=("-eps",), kind=float, within=POSITIVE
    )
    device: str = setting(
        "cpu",
        "cpu, cuda (an NVIDIA GPU through numba-cuda: pip install -e "
        '".[cuda]") or auto (cuda when a GPU is usable)',
        choices=lambda: DEVICES,
    )
    seed: int = setting(0, "seeds the split, the initialisation and the shuffling", kind=int)
    threads: int = setting(
        0,
        "BLAS threads; 0 = nbnet's policy: one per 8 million multiply-adds of the largest "
        "matrix product, at most the cores this process may use",
        kind=int,
        within=AT_LEAST_0,
        sweepable=False,
    )
    dataset: str = setting(
        "fashion_mnist",
        "mnist or fashion_mnist (fashion-mnist accepted)",
        flags=("-d",),
        group=DATA,
        choices=lambda: tuple(CLASS_NAMES),
    )
    data_dir: str | None = setting(
        None,
        "folder with the IDX files (else $NBNET_DATA_DIR, the Keras cache, Debian's "
        "dataset-fashion-mnist, then a Keras download)",
        group=DATA,
        sweepable=False,
    )
    strict_data: bool = setting(
        False,
        "refuse files that are the other dataset's published files (by their SHA-256 "
        "digests) instead of warning",
        group=DATA,
        kind=bool,
        sweepable=False,
        boolean="switch",
    )
    val_fraction: float = setting(
        0.1,
        "fraction of the training set held out (stratified) for validation",
        group=DATA,
        kind=float,
        within=FRACTION,
    )
    wandb_project: str = setting(
        "nbnet", "W&B project for the runs", flags=("-wp",), group=WANDB, sweepable=False
    )
    wandb_entity: str | None = setting(
        None,
        "W&B entity (user or team); default: your W&B default entity",
        flags=("-we",),
        group=WANDB,
        sweepable=False,
    )
    wandb_mode: str = setting(
        "auto",
        "auto = online when W&B credentials are configured, offline otherwise",
        group=WANDB,
        choices=lambda: MODES,
        sweepable=False,
    )
    wandb_dir: str = setting(
        ".", "folder under which W&B writes ./wandb", group=WANDB, sweepable=False
    )
    runs_dir: str = setting("runs", "each run gets a folder here", group=OUTPUT, sweepable=False)
    save_model: bool = setting(
        True,
        "save the trained model (model.npz) in the run folder",
        group=OUTPUT,
        kind=bool,
        sweepable=False,
    )
    evaluate_test: bool = setting(
        True,
        "evaluate the finished model on the test set; "
        "--no-evaluate_test never opens the test files (what sweep "
        "trials use)",
        group=OUTPUT,
        kind=bool,
    )
    quiet: bool = setting(
        False,
        "no progress display, only the summary",
        flags=("-q",),
        group=OUTPUT,
        kind=bool,
        sweepable=False,
        boolean="switch",
    )

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, check_value(f.name, getattr(self, f.name)))

    # ------------------------------------------------------------------ views
    @property
    def layer_widths(self):
        """Hidden layer widths: ``hidden_sizes`` if given, else ``num_layers`` x ``hidden_size``."""
        if self.hidden_sizes:
            return list(self.hidden_sizes)
        return [self.hidden_size] * self.num_layers

    def replace(self, **changes):
        """A copy with ``changes`` applied and checked."""
        unknown = set(changes) - set(SETTINGS)
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """Every setting as plain JSON values (what W&B and config.json receive)."""
        return {name: list(v) if isinstance(v, tuple) else v for name, v in self.items()}

    def items(self):
        return ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))

    def name(self):
        """A readable run name from the tagged settings, e.g.
        ``hl_3_sz_128_bs_16_ac_tanh_o_adam_lr_0.0001_wd_0_wi_Xavier_ep_10_l_ce``.

        The assignment's settings always appear; ``hidden_sizes`` replaces
        ``num_layers`` and ``hidden_size`` when given; the extensions
        (:data:`EXTENSIONS`) only when they differ from their defaults.
        """
        parts = []
        for name, meta in SETTINGS.items():
            value, tag = getattr(self, name), meta["tag"]
            if tag is None or (name in ("num_layers", "hidden_size") and self.hidden_sizes):
                continue
            if name in EXTENSIONS or name == "hidden_sizes":
                if value == FIELDS[name].default:
                    continue
                if value is True:
                    parts.append(tag)
                    continue
            value = (meta["tag_values"] or {}).get(value, value)
            parts += [tag, _short(value)]
        return "_".join(parts)

    def regularization(self):
        """The extensions to plain training this config uses, in words ("" when none)."""
        parts = []
        if self.dropout:
            parts.append(f"dropout {self.dropout:g}")
        if self.input_dropout:
            parts.append(f"input dropout {self.input_dropout:g}")
        if self.max_norm:
            parts.append(f"max-norm {self.max_norm:g}")
        if self.ema:
            parts.append(f"moving average {self.ema:g}")
        if self.augment != "none":
            ranges = [
                f"shift {self.aug_shift:g} px" if self.aug_shift else "",
                f"rotation {self.aug_rotate:g} deg" if self.aug_rotate else "",
                f"scale {self.aug_scale:.0%}" if self.aug_scale else "",
                "mirrored half the time" if self.aug_flip else "",
            ]
            parts.append(
                f"{self.augment} distortions ({', '.join(r for r in ranges if r) or 'none'})"
            )
        if self.lr_schedule != "constant":
            parts.append(f"{self.lr_schedule} learning rate")
        return ", ".join(parts)

    def command(self, names=None, program="train.py"):
        """The ``python train.py ...`` command that sets ``names`` (default: every setting
        that differs from its default) to this config's values."""
        if names is None:
            names = [n for n, v in self.items() if v != FIELDS[n].default]
        parts = ["python", program]
        for name in names:
            parts += _flag_arguments(name, getattr(self, name))
        return " ".join(shlex.quote(p) for p in parts)


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
SETTINGS = {name: f.metadata for name, f in FIELDS.items()}
#: Settings that appear in a run's name only when they differ from their default.
EXTENSIONS = (
    "dropout",
    "input_dropout",
    "lr_schedule",
    "restore_best",
    "early_stopping",
    "max_norm",
    "ema",
    "augment",
    "aug_shift",
    "aug_rotate",
    "aug_scale",
    "aug_flip",
)
#: Settings that only apply with ``--augment affine``.
AUGMENT_SETTINGS = ("aug_shift", "aug_rotate", "aug_scale", "aug_flip")
#: What a sweep may vary.
SWEEPABLE = tuple(name for name, meta in SETTINGS.items() if meta["sweepable"])
DEFAULTS = {name: f.default for name, f in FIELDS.items()}


def _short(value):
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "-".join(str(v) for v in value)
    return str(value)


def _flag_arguments(name, value):
    if isinstance(value, bool):
        return [f"--{name}" if value else f"--no-{name}"]
    if isinstance(value, (list, tuple)):
        return [f"--{name}", *map(str, value)]
    return [f"--{name}", f"{value:g}" if isinstance(value, float) else str(value)]


def choices_of(name):
    choices = SETTINGS[name]["choices"]
    return tuple(choices()) if callable(choices) else choices


def _one(name, meta, value):
    """Check one value (or one item of a list setting); text is parsed as the flag's would be."""
    kind = meta["kind"]
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {value!r}")
        return value
    if kind in (int, float):
        if isinstance(value, str):
            try:
                value = kind(value)
            except ValueError:
                article = "an integer" if kind is int else "a number"
                raise ConfigError(f"{name}: {value!r} is not {article}") from None
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(
                f"{name}: {value!r} is not {'an integer' if kind is int else 'a number'}"
            )
        elif kind is int and not float(value).is_integer():
            raise ConfigError(f"{name}: {value!r} is not an integer")
        value = kind(value)
        if not math.isfinite(value):  # NaN and infinity pass every comparison of a range
            raise ConfigError(f"{name}: {value!r} is not a finite number")
        within = meta["within"]
        if within is not None and not within.holds(value):
            raise ConfigError(f"{name}: {value:g} is out of range: must be {within}")
        return value
    value = str(value)
    if name == "dataset":
        value = value.replace("-", "_")
    choices = choices_of(name) if meta["choices"] else None
    if choices is not None and value not in choices:
        hint = "; fashion-mnist works too" if name == "dataset" else ""
        raise ConfigError(
            f"{name}: invalid choice: {value!r} (choose from {', '.join(map(repr, choices))}{hint})"
        )
    return value


def check_value(name, value):
    """``value`` checked and normalised for setting ``name`` (:class:`ConfigError` if wrong).

    Accepts what ``train.py``'s flag accepts, as text or as the typed value a YAML
    file holds; a list setting takes a list or tuple (stored as a tuple).
    """
    meta = SETTINGS[name]
    if value is None and FIELDS[name].default is None:
        return None
    if meta["many"]:
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"{name}: expected a non-empty list, got {value!r}")
        return tuple(_one(name, meta, item) for item in value)
    return _one(name, meta, value)


# ------------------------------------------------------------------ train.py's parser
def _argparse_type(name):
    def parse(text):
        try:
            value = _one(name, SETTINGS[name], text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None
        return value

    parse.__name__ = SETTINGS[name]["kind"].__name__
    return parse


def _help(name, meta):
    if name == "optimizer":  # the registry's formulas, so a new optimizer documents itself
        return meta["help"] + "; ".join(
            f"{o.name}: {o.formula}" for o in optimizers.REGISTRY.values()
        )
    return meta["help"]


def build_parser(prog="train.py"):
    """``train.py``'s argument parser, generated from :class:`RunConfig`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train a feedforward network on Fashion-MNIST or MNIST with nbnet "
        "(hand-written backprop, Numba-compiled kernels), log it to W&B and save it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    # --help reads W&B first, then data, training, model and output.
    groups = {
        title: parser.add_argument_group(title) for title in (WANDB, DATA, TRAINING, MODEL, OUTPUT)
    }
    by_group = sorted(SETTINGS.items(), key=lambda item: list(groups).index(item[1]["group"]))
    for name, meta in by_group:
        kwargs = dict(default=FIELDS[name].default, help=_help(name, meta), dest=name)
        if meta["kind"] is bool:
            kwargs["action"] = (
                "store_true" if meta["boolean"] == "switch" else argparse.BooleanOptionalAction
            )
        else:
            # Checked by the same function as every other way in (not argparse's `choices`,
            # whose message differs between Python versions).
            kwargs["type"] = _argparse_type(name)
            if meta["many"]:
                kwargs["nargs"] = "+"
            if meta["choices"]:
                kwargs["metavar"] = "{" + ",".join(choices_of(name)) + "}"
        if meta["metavar"]:
            kwargs["metavar"] = meta["metavar"]
        groups[meta["group"]].add_argument(*meta["flags"], f"--{name}", **kwargs)
    groups[OUTPUT].add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue a stopped or killed run in its folder from its last finished epoch, "
        "with its own settings (only " + ", ".join(f"--{n}" for n in RESUME_MAY_CHANGE) + " "
        "may be given); it ends as the run that was never stopped would have",
    )
    return parser


#: Settings that may differ when a run is resumed: where the data is and what is shown.
RESUME_MAY_CHANGE = ("data_dir", "strict_data", "wandb_mode", "quiet")
#: The settings file of a run folder.
CONFIG_FILE = "config.json"


def parse_command(argv=None):
    """Parse ``train.py``'s command line (a one-line error on bad input).

    Returns
    -------
    config : RunConfig
        The command's settings, or with ``--resume`` the run folder's own.
    resume : pathlib.Path or None
        The run folder to continue.
    """
    parser = build_parser()
    values = vars(parser.parse_args(argv))
    resume = values.pop("resume")
    try:
        if resume is None:
            config = RunConfig(**values)
            _check_augment_settings(config)
            _check_validation_settings(config)
            return config, None
        return config_of_run(resume, values), Path(resume)
    except ConfigError as exc:  # checks that only the whole config can make
        parser.error(str(exc))


def _check_augment_settings(config):
    """A distortion setting given without ``--augment affine`` would do nothing: say so."""
    given = [f"--{n}" for n in AUGMENT_SETTINGS if getattr(config, n) != FIELDS[n].default]
    if given and config.augment == "none":
        raise ConfigError(f"{', '.join(given)}: take effect only with --augment affine")


def _check_validation_settings(config):
    """Early stopping and restoring the best epoch read the validation accuracy: with
    ``--val_fraction 0`` there is none, and they would silently do nothing."""
    given = [f"--{n}" for n in ("early_stopping", "restore_best") if getattr(config, n)]
    if given and not config.val_fraction:
        raise ConfigError(
            f"{' and '.join(given)}: need validation data, and --val_fraction 0 holds none"
        )


def parse_config(argv=None):
    """The RunConfig of ``train.py``'s command line (see :func:`parse_command`)."""
    return parse_command(argv)[0]


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
    given = {k: v for k, v in (given or {}).items() if v != FIELDS[k].default}
    fixed = [f"--{name}" for name in given if name not in RESUME_MAY_CHANGE]
    if fixed:
        raise ConfigError(
            f"--resume continues the run with its own settings; drop {', '.join(fixed)} "
            f"(only {', '.join(f'--{n}' for n in RESUME_MAY_CHANGE)} may change)"
        )
    return from_saved(saved, given)


#: The format marker of a run folder's config.json: the folder is nbnet's when it says so.
RUN_FORMAT = "nbnet run 1"


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
