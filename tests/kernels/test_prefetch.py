"""kernels.prefetch: a hint that compiles for every row type of the step loop, changing nothing."""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from kernels.prefetch import prefetch


@njit
def _prefetch_rows_then_sum(X, order):
    total = 0.0
    for i in range(order.shape[0]):
        prefetch(X[order[i]])
        total += X[order[i]].sum()
    return total


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("n_features", [0, 1, 15, 16, 17, 784])
def test_prefetch_compiles_for_any_row_and_changes_nothing(dtype, n_features):
    X = np.arange(7 * n_features).reshape(7, n_features).astype(dtype)
    before = X.copy()
    order = np.array([6, 0, 3, 3], dtype=np.int64)
    assert _prefetch_rows_then_sum(X, order) == pytest.approx(X[order].astype(np.float64).sum())
    np.testing.assert_array_equal(X, before)


def test_prefetch_refuses_a_strided_view():
    @njit
    def column(X):
        prefetch(X[:, 0])

    with pytest.raises(TypingError):
        column(np.zeros((3, 4), np.float32))
