"""Seeds derived from a run's or a sweep's seed, one per epoch or per trial."""

import numpy as np


def derived_seed(seed, index):
    """A 31-bit seed mixed from ``(seed, index)`` by NumPy's SeedSequence: well apart for
    neighbouring indices and seeds, the same on every machine. Used for each epoch's
    dropout masks (index: the epoch) and each sweep trial's sampler (index: its number)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] >> 1)
