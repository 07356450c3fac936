#!/usr/bin/env python
"""Train a feedforward network with nbnet. ``python train.py --help`` lists the flags."""

import sys

from experiments import interrupts
from experiments.app.session import run
from experiments.config import parse_command


def main(argv=None):
    config, resume = parse_command(argv)
    interrupts.stop_on_sigterm()  # saves the model trained so far, marked interrupted
    try:
        return run(config, resume=resume).exit_code
    except KeyboardInterrupt:  # before the training loop, which handles it itself
        print("train.py: interrupted before training started; nothing was saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
