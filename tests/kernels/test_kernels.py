"""Each kernel against its NumPy reference in tests/naive.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kernels.activations import activation_backward, bias_activation, fast_tanh
from kernels.config import ACTIVATIONS, LOSSES
from kernels.dense import (
    add_weight_decay,
    dense_backward_input,
    dense_backward_params,
    dense_forward,
)
from kernels.losses import softmax_loss_grad, softmax_rows
from tests import naive

shapes = st.tuples(st.integers(1, 9), st.integers(1, 17))


def _random(rng, shape, dtype, scale=3.0):
    return (rng.normal(size=shape) * scale).astype(dtype)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 6e-7)])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@given(shape=shapes, seed=st.integers(0, 2**32 - 1))
def test_bias_activation_matches_reference(activation, dtype, tol, shape, seed):
    rng = np.random.default_rng(seed)
    z = _random(rng, shape, dtype)
    b = _random(rng, shape[1], dtype)
    expected = naive.ACTIVATION[activation][0](z.astype(np.float64) + b)
    bias_activation(z, b, ACTIVATIONS[activation])
    np.testing.assert_allclose(z, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@given(shape=shapes, seed=st.integers(0, 2**32 - 1))
def test_activation_backward_uses_the_derivative(activation, shape, seed):
    rng = np.random.default_rng(seed)
    z = _random(rng, shape, np.float64)
    f, df = naive.ACTIVATION[activation]
    grad = _random(rng, shape, np.float64)
    expected = grad * df(z)
    activation_backward(grad, f(z), ACTIVATIONS[activation])
    np.testing.assert_allclose(grad, expected, rtol=1e-9, atol=1e-12)


def test_fast_tanh_error_bound():
    x = np.linspace(-20, 20, 400_001).astype(np.float32)
    approx = np.array([fast_tanh(v) for v in x[::97]], dtype=np.float64)
    assert np.max(np.abs(approx - np.tanh(x[::97].astype(np.float64)))) < 4e-7
    assert abs(fast_tanh(np.float32(np.inf)) - 1) < 4e-7
    assert abs(fast_tanh(np.float32(-np.inf)) + 1) < 4e-7
    assert np.isnan(fast_tanh(np.float32(np.nan)))


def test_sigmoid_is_stable_for_huge_inputs():
    z = np.array([[-1e4, -80.0, 0.0, 80.0, 1e4]])
    bias_activation(z, np.zeros(5), ACTIVATIONS["sigmoid"])
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z, [[0.0, 1.8048513878454153e-35, 0.5, 1.0, 1.0]], rtol=1e-12)


@given(
    n=st.integers(1, 9),
    n_in=st.integers(1, 12),
    n_out=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_dense_kernels_match_numpy(n, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(n, n_in)), rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
    out = np.empty((n, n_out))
    dense_forward(x, W, b, ACTIVATIONS["tanh"], out)
    np.testing.assert_allclose(out, np.tanh(x @ W + b), rtol=1e-12)
    delta = rng.normal(size=(n, n_out))
    dW, db, dx = np.empty_like(W), np.empty_like(b), np.empty_like(x)
    dense_backward_params(x, delta, dW, db)
    dense_backward_input(delta, W, dx)
    np.testing.assert_allclose(dW, x.T @ delta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, delta.sum(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, delta @ W.T, rtol=1e-12, atol=1e-12)
    before = dW.copy()
    add_weight_decay(dW, W, 0.3)
    np.testing.assert_allclose(dW, before + 0.3 * W, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(z=arrays(np.float64, shapes, elements=st.floats(-1e4, 1e4)))
def test_softmax_rows_sum_to_one_and_never_overflow(dtype, z):
    z = z.astype(dtype)
    p = np.empty_like(z)
    softmax_rows(z, p)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(p, naive.softmax(z), atol=1e-6)


@pytest.mark.parametrize("loss", list(LOSSES))
@given(n=st.integers(1, 9), k=st.integers(2, 10), seed=st.integers(0, 2**32 - 1))
def test_output_loss_and_gradient(loss, n, k, seed):
    """Loss equals the definition; dL/dz equals central finite differences."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 3
    y = rng.integers(0, k, n)
    dz = np.empty_like(z)
    loss_sum, correct = softmax_loss_grad(z.copy(), y, LOSSES[loss], dz)
    assert loss_sum / n == pytest.approx(naive.loss_from_logits(z, y, loss), rel=1e-12)
    assert correct == np.sum(z.argmax(axis=1) == y)
    numeric = naive.finite_difference_gradient(
        lambda flat: naive.loss_from_logits(flat.reshape(n, k), y, loss), z.ravel()
    ).reshape(n, k)
    np.testing.assert_allclose(dz, numeric, rtol=1e-6, atol=1e-9)


def test_squared_error_gradient_is_not_the_cross_entropy_one():
    z = np.array([[2.0, -1.0, 0.5]])
    y = np.array([0])
    ce, mse = np.empty_like(z), np.empty_like(z)
    softmax_loss_grad(z, y, LOSSES["cross_entropy"], ce)
    softmax_loss_grad(z, y, LOSSES["mean_squared_error"], mse)
    assert not np.allclose(ce, mse)


def test_cross_entropy_is_finite_for_extreme_logits():
    z = np.array([[1e4, -1e4, 0.0]], dtype=np.float32)
    dz = np.empty_like(z)
    loss_sum, _ = softmax_loss_grad(z.copy(), np.array([1]), LOSSES["cross_entropy"], dz)
    assert loss_sum == pytest.approx(2e4, rel=1e-6)
    assert np.all(np.isfinite(dz))
