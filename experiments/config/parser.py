"""``train.py``'s command line, generated from :class:`.schema.RunConfig`'s fields."""

import argparse
from pathlib import Path

from .resume import RESUME_MAY_CHANGE, config_of_run
from .schema import (
    DATA,
    FIELDS,
    MODEL,
    OUTPUT,
    SETTINGS,
    TRAINING,
    WANDB,
    ConfigError,
    RunConfig,
    check_combination,
    check_item,
    choices_of,
    help_of,
)


def _argparse_type(name):
    def parse(text):
        try:
            value = check_item(name, SETTINGS[name], text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None
        return value

    parse.__name__ = SETTINGS[name]["kind"].__name__
    return parse


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
        kwargs = dict(default=FIELDS[name].default, help=help_of(name), dest=name)
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
            check_combination(config)
            return config, None
        return config_of_run(resume, values), Path(resume)
    except ConfigError as exc:  # checks that only the whole config can make
        parser.error(str(exc))


def parse_config(argv=None):
    """The RunConfig of ``train.py``'s command line (see :func:`parse_command`)."""
    return parse_command(argv)[0]
