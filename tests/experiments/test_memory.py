"""experiments.memory: the estimate counts what a run allocates, and a network over the
machine's memory is refused with what to change."""

import pytest

from experiments.config import parse_config
from experiments.memory import TooLarge, check_fits, memory_needed
from experiments.training import build_network


@pytest.mark.parametrize(
    "flags, arrays",
    [
        ([], 4),
        (["-o", "sgd"], 2),
        (["-o", "momentum", "--ema", "0.99"], 4),
        (["--restore_best"], 5),
    ],
)
def test_memory_needed_counts_the_arrays_a_run_holds(flags, arrays):
    config = parse_config(["--hidden_sizes", "30", "20", *flags])
    net = build_network(config, 12, 3)
    batch = 4 * 3 * config.batch_size * sum(net.sizes)
    assert memory_needed(config, 12, 3) == 4 * arrays * net.layout.n_params + batch
    assert net.params.nbytes == 4 * net.layout.n_params


def test_a_network_over_the_memory_is_refused_with_the_advice():
    config = parse_config(["--hidden_sizes", "30", "20"])
    needed = memory_needed(config, 12, 3)
    check_fits(config, 12, 3, memory=needed)  # exactly enough: no word
    with pytest.raises(TooLarge) as refused:
        check_fits(config, 12, 3, memory=needed - 1, advice="use fewer units")
    message = str(refused.value)
    assert message.startswith("the network 12 -> 30 -> 20 -> 3 needs about 0.0 GiB")
    assert message.endswith("GiB: use fewer units") and "\n" not in message
    assert isinstance(refused.value, MemoryError)  # what a library user would catch
