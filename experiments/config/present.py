"""A run's settings for people: its name, its extensions in words, the command that repeats it."""

import shlex

from .schema import DEFAULTS, SETTINGS


def _short(value):
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "-".join(str(v) for v in value)
    return str(value)


def run_name(config):
    """A readable run name from the tagged settings, e.g.
    ``hl_3_sz_128_bs_16_ac_tanh_o_adam_lr_0.0001_wd_0_wi_Xavier_ep_10_l_ce``.

    The assignment's settings always appear, except those ``replaced_by`` another that is
    given (``hidden_sizes`` replaces ``num_layers`` and ``hidden_size``); the extensions
    only when they differ from their defaults, a switched-on boolean as its bare tag.
    """
    parts = []
    for name, meta in SETTINGS.items():
        value, tag = getattr(config, name), meta["tag"]
        if tag is None or (meta["replaced_by"] and getattr(config, meta["replaced_by"])):
            continue
        if meta["extension"]:
            if value == DEFAULTS[name]:
                continue
            if value is True:
                parts.append(tag)
                continue
        value = (meta["tag_values"] or {}).get(value, value)
        parts += [tag, _short(value)]
    return "_".join(parts)


def regularization(config):
    """The extensions to plain training ``config`` uses, in words ("" when none)."""
    parts = []
    if config.dropout:
        parts.append(f"dropout {config.dropout:g}")
    if config.input_dropout:
        parts.append(f"input dropout {config.input_dropout:g}")
    if config.max_norm:
        parts.append(f"max-norm {config.max_norm:g}")
    if config.ema:
        parts.append(f"moving average {config.ema:g}")
    if config.augment != "none":
        ranges = [
            f"shift {config.aug_shift:g} px" if config.aug_shift else "",
            f"rotation {config.aug_rotate:g} deg" if config.aug_rotate else "",
            f"scale {config.aug_scale:.0%}" if config.aug_scale else "",
            "mirrored half the time" if config.aug_flip else "",
        ]
        parts.append(
            f"{config.augment} distortions ({', '.join(r for r in ranges if r) or 'none'})"
        )
    if config.lr_schedule != "constant":
        parts.append(f"{config.lr_schedule} learning rate")
    return ", ".join(parts)


def flag_arguments(name, value):
    """``train.py``'s arguments that set ``name`` to ``value``."""
    if isinstance(value, bool):
        return [f"--{name}" if value else f"--no-{name}"]
    if isinstance(value, (list, tuple)):
        return [f"--{name}", *map(str, value)]
    return [f"--{name}", f"{value:g}" if isinstance(value, float) else str(value)]


def command(config, names=None, program="train.py"):
    """The ``python train.py ...`` command that sets ``names`` (default: every setting
    that differs from its default) to ``config``'s values."""
    if names is None:
        names = [n for n, v in config.items() if v != DEFAULTS[n]]
    parts = ["python", program]
    for name in names:
        parts += flag_arguments(name, getattr(config, name))
    return " ".join(shlex.quote(p) for p in parts)
