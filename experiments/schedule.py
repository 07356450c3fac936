"""The learning-rate schedules: the rate of each epoch."""

import math

SCHEDULES = ("constant", "cosine")


def learning_rate(schedule, base, epoch, epochs):
    """The learning rate of ``epoch`` (1-based) under ``schedule``.

    ``constant``: ``base`` throughout.
    ``cosine``: ``base * (1 + cos(pi * (epoch-1) / epochs)) / 2``,
    from ``base`` in the first epoch down towards 0 in the last (Loshchilov & Hutter's SGDR
    without restarts, stepped once per epoch).
    """
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))
    raise ValueError(f"unknown lr_schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
