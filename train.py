#!/usr/bin/env python
"""Train a feedforward network with nbnet. ``python train.py --help`` lists the flags."""

import sys

from experiments.config import parse_config
from experiments.session import run


def main(argv=None):
    config = parse_config(argv)
    return run(config).exit_code


if __name__ == "__main__":
    sys.exit(main())
