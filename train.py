#!/usr/bin/env python
"""Train a feedforward network with nbnet. ``python train.py --help`` lists the flags."""

import signal
import sys

from experiments.app.session import run
from experiments.config import parse_command


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    config, resume = parse_command(argv)
    # `kill`, `timeout`, `docker stop` and cluster pre-emption send SIGTERM: stop as on
    # Ctrl-C, saving the model trained so far (marked interrupted).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(config, resume=resume).exit_code
    except KeyboardInterrupt:  # before the training loop, which handles it itself
        print("train.py: interrupted before training started; nothing was saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
