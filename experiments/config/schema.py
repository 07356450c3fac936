"""RunConfig: every setting of a run, defined once, and the checks of its values.

Each field of :class:`RunConfig` carries its default, its type, its range or choices,
its short flag, its ``--help`` text, its place in the run's name and what else it depends
on (``setting``'s parameters). The parser (:mod:`.parser`), the checks of a sweep's YAML
values (:func:`check_value`), the run name, the ``train.py`` command and the words for a
run's extensions (:mod:`.present`), what a resumed run may change (:mod:`.resume`) and the
config W&B and ``config.json`` receive (:meth:`RunConfig.to_dict`) are all generated from
these fields; nothing else lists the settings.

Over 400 lines because the table of fields is: one entry per setting, about 45 of them.

The shipped defaults are the best configuration of the project's own sweeps
among those that use only the assignment's flags (docs/results.md, "How the
defaults were chosen"); the extensions (:data:`EXTENSIONS`: per-layer widths, dropout, a
schedule, restore-best, early stopping, max-norm, the moving average,
augmentation) are off, so a default run keeps the assignment's behaviour.

Nothing here imports from the layers above (training, the application, sweeps).
"""

import dataclasses
import math
from dataclasses import dataclass, field

import optimizers
from kernels.config import ACTIVATIONS, LOSSES
from network.backends import DEVICES
from network.init import INITIALIZERS

from ..data import CLASS_NAMES
from ..schedule import SCHEDULES

#: ``--augment`` modes (kernels/augment.py).
AUGMENTATIONS = ("none", "affine")
#: How a run reaches W&B (experiments/app/tracking.py).
WANDB_MODES = ("auto", "online", "offline", "disabled")


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
    extension=False,
    replaced_by=None,
    only_with=None,
    reads_validation=False,
    resumable=False,
    spelling=None,
):
    """A RunConfig field with its metadata.

    Parameters
    ----------
    default
        The default value.
    help : str or callable
        ``--help`` text (a callable is asked when needed: the optimizer registry
        documents itself).
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
    extension : bool
        Beyond the assignment: in the run name only when it differs from its default.
    replaced_by : str
        Left out of the run name when this other setting is given.
    only_with : tuple
        ``(setting, value)``: takes effect only when that setting has that value; giving
        it otherwise is refused (it would silently do nothing).
    reads_validation : bool
        Reads the validation accuracy: refused with ``val_fraction`` 0.
    resumable : bool
        May differ when a run is resumed (where data is, what is shown).
    spelling : tuple
        ``(normalise, hint)`` for a setting with choices: ``normalise(text)`` maps other
        spellings onto a choice, ``hint`` says so in the error.
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
        extension=extension,
        replaced_by=replaced_by,
        only_with=only_with,
        reads_validation=reads_validation,
        resumable=resumable,
        spelling=spelling,
    )
    return field(default=default, metadata=meta)


WANDB, DATA, TRAINING, MODEL, OUTPUT = "Weights & Biases", "data", "training", "model", "output"


@dataclass(frozen=True)
class RunConfig:
    """The settings of one run; every value checked on construction (:class:`ConfigError`)."""

    # The order of the fields is the order of the run name's tags (present.run_name).
    num_layers: int = setting(
        2,
        "number of hidden layers (0 = softmax regression)",
        flags=("-nhl",),
        group=MODEL,
        kind=int,
        within=AT_LEAST_0,
        tag="hl",
        replaced_by="hidden_sizes",
    )
    hidden_size: int = setting(
        1024,
        "neurons in each hidden layer",
        flags=("-sz",),
        group=MODEL,
        kind=int,
        within=AT_LEAST_1,
        tag="sz",
        replaced_by="hidden_sizes",
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
        extension=True,
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
        "nadam",
        lambda: (
            "update rule: "
            + "; ".join(f"{o.name}: {o.formula}" for o in optimizers.REGISTRY.values())
        ),
        flags=("-o",),
        choices=lambda: tuple(optimizers.REGISTRY),
        tag="o",
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
        extension=True,
    )
    lr_schedule: str = setting(
        "constant",
        "constant, or cosine: decay the learning rate per epoch from -lr towards 0",
        choices=SCHEDULES,
        tag="lrs",
        extension=True,
    )
    restore_best: bool = setting(
        False,
        "end with the parameters of the epoch with the best "
        "validation accuracy instead of the last epoch's",
        kind=bool,
        tag="rb",
        extension=True,
        reads_validation=True,
    )
    early_stopping: int = setting(
        0,
        "stop after PATIENCE epochs without a better validation accuracy (0 = off)",
        kind=int,
        within=AT_LEAST_0,
        metavar="PATIENCE",
        tag="es",
        extension=True,
        reads_validation=True,
    )
    input_dropout: float = setting(
        0.0,
        "probability of dropping each input pixel in training (inverted dropout; 0 = off)",
        kind=float,
        within=FRACTION,
        tag="ido",
        extension=True,
    )
    max_norm: float = setting(
        0.0,
        "cap each hidden unit's incoming weight vector at this L2 norm after every update "
        "(max-norm, as with dropout in Srivastava et al. 2014; 0 = off)",
        kind=float,
        within=AT_LEAST_0,
        tag="mn",
        extension=True,
    )
    ema: float = setting(
        0.0,
        "validate, test and save the exponential moving average of the parameters with "
        "this decay per step, e.g. 0.999 (0 = off)",
        kind=float,
        within=FRACTION,
        metavar="DECAY",
        tag="ema",
        extension=True,
    )
    augment: str = setting(
        "none",
        "affine: distort every training image anew each epoch by a random rotation, "
        "scale and shift (and mirror, with --aug_flip); none: train on the images as they are",
        choices=AUGMENTATIONS,
        tag="aug",
        extension=True,
    )
    aug_shift: float = setting(
        2.0,
        "--augment affine: largest shift, in pixels along each axis (at most 8: a third "
        "of a 28-pixel image)",
        kind=float,
        within=Range(0, MAX_SHIFT),
        tag="ash",
        extension=True,
        only_with=("augment", "affine"),
    )
    aug_rotate: float = setting(
        10.0,
        "--augment affine: largest rotation, in degrees",
        kind=float,
        within=Range(0, 180),
        tag="arot",
        extension=True,
        only_with=("augment", "affine"),
    )
    aug_scale: float = setting(
        0.1,
        "--augment affine: largest change of size, as a fraction (0.1: 90%% to 110%%; at most 0.5)",
        kind=float,
        within=Range(0, MAX_SCALE),
        tag="asc",
        extension=True,
        only_with=("augment", "affine"),
    )
    aug_flip: bool = setting(
        False,
        "--augment affine: mirror left-right half the time (suits clothes, not digits)",
        kind=bool,
        tag="aflip",
        extension=True,
        only_with=("augment", "affine"),
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
    seed: int = setting(
        0, "seeds the split, the initialisation and the shuffling", kind=int, within=AT_LEAST_0
    )
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
        spelling=(lambda text: text.replace("-", "_"), "fashion-mnist works too"),
    )
    data_dir: str | None = setting(
        None,
        "folder with the IDX files (else $NBNET_DATA_DIR, the Keras cache, Debian's "
        "dataset-fashion-mnist, then a Keras download)",
        group=DATA,
        sweepable=False,
        resumable=True,
    )
    strict_data: bool = setting(
        False,
        "refuse files that are the other dataset's published files (by their SHA-256 "
        "digests) instead of warning",
        group=DATA,
        kind=bool,
        sweepable=False,
        boolean="switch",
        resumable=True,
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
        choices=WANDB_MODES,
        sweepable=False,
        resumable=True,
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
        resumable=True,
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


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
SETTINGS = {name: f.metadata for name, f in FIELDS.items()}
DEFAULTS = {name: f.default for name, f in FIELDS.items()}
#: What a sweep may vary.
SWEEPABLE = tuple(name for name, meta in SETTINGS.items() if meta["sweepable"])
#: Settings beyond the assignment's (in a run's name only when they differ from their default).
EXTENSIONS = tuple(name for name, meta in SETTINGS.items() if meta["extension"])


def is_whole(value, least):
    """An integer of at least ``least`` (a bool, YAML's ``true``, is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def choices_of(name):
    choices = SETTINGS[name]["choices"]
    return tuple(choices()) if callable(choices) else choices


def help_of(name):
    text = SETTINGS[name]["help"]
    return text() if callable(text) else text


def check_item(name, meta, value):
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
    normalise, hint = meta["spelling"] or (str, "")
    value = normalise(value)
    choices = choices_of(name) if meta["choices"] else None
    if choices is not None and value not in choices:
        hint = f"; {hint}" if hint else ""
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
        return tuple(check_item(name, meta, item) for item in value)
    return check_item(name, meta, value)


def check_combination(config):
    """The checks only a whole run's settings can make (:class:`ConfigError`): a setting
    given that would silently do nothing (``only_with`` another setting's value, or
    ``reads_validation`` with ``--val_fraction 0``)."""
    given = [n for n, v in config.items() if v != DEFAULTS[n]]
    for name in given:
        needed = SETTINGS[name]["only_with"]
        if needed and getattr(config, needed[0]) != needed[1]:
            idle = [f"--{n}" for n in given if SETTINGS[n]["only_with"] == needed]
            raise ConfigError(f"{', '.join(idle)}: take effect only with --{needed[0]} {needed[1]}")
    reading = [f"--{n}" for n in given if SETTINGS[n]["reads_validation"]]
    if reading and not config.val_fraction:
        raise ConfigError(
            f"{' and '.join(reading)}: need validation data, and --val_fraction 0 holds none"
        )
