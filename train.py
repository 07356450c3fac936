#!/usr/bin/env python
"""Train a feedforward network with nbnet. ``python train.py --help`` lists the flags."""

import sys

from experiments.app.session import run
from experiments.config import parse_config


def main(argv=None):
    config = parse_config(argv)
    return run(config).exit_code


if __name__ == "__main__":
    sys.exit(main())
