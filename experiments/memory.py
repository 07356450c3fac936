"""Whether a run's network fits in this machine's memory, asked before it is built.

A network too large for the machine ended in NumPy's allocation error (one array larger
than the memory), or worse, in the system's kill of a process whose arrays each fit but not
all together: :func:`check_fits` says it in one line first, with what to change.
"""

import os

import optimizers


def memory_needed(config, n_features, n_classes):
    """Bytes a run of ``config`` holds for its network, about: the parameters, their
    gradients and the optimizer's state (one array each per slot), a copy for ``--ema`` and
    one for ``--restore_best``, and a batch's activations and their derivatives
    (float32, 4 bytes a value). The dataset, loaded already, is not counted."""
    sizes = [n_features, *config.layer_widths, n_classes]
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    arrays = 2 + optimizers.get(config.optimizer).n_slots
    arrays += (config.ema > 0) + bool(config.restore_best)
    return 4 * (arrays * n_params + 3 * config.batch_size * sum(sizes))


class TooLarge(MemoryError):
    """A network that cannot fit in this machine's memory (:func:`check_fits`)."""


def physical_memory():
    """This machine's memory in bytes (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return None


#: What :func:`check_fits` advises, in train.py's words.
SMALLER_NETWORK = "use a smaller --hidden_size (or --hidden_sizes) or fewer --num_layers"


def check_fits(config, n_features, n_classes, memory=None, advice=SMALLER_NETWORK):
    """Raise :class:`TooLarge` when :func:`memory_needed` is over ``memory`` (default: this
    machine's), its message ending in ``advice``: better said before training than as NumPy's
    allocation error, or as the system's kill of a process whose arrays each fit but not all
    together."""
    needed, memory = memory_needed(config, n_features, n_classes), memory or physical_memory()
    if memory is None or needed <= memory:
        return
    sizes = " -> ".join(map(str, [n_features, *config.layer_widths, n_classes]))
    raise TooLarge(
        f"the network {sizes} needs about {needed / 2**30:,.1f} GiB for its parameters, "
        f"their gradients and {config.optimizer}'s state, and this machine has "
        f"{memory / 2**30:,.1f} GiB: {advice}"
    )
