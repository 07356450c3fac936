"""The whole network's analytic gradient against central finite differences."""

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from kernels.config import ACTIVATIONS, LOSSES
from network import MLP
from network.trainer import StepSettings
from tests import naive

#: Batches whose ReLU pre-activations come closer to 0 than this are skipped: a central
#: difference with h = 1e-5 across the kink measures a one-sided slope (seen: relative
#: error 1.5e-3 on sizes [3, 10, 15, 16, 5, 3], ReLU, dropout 0.2, seed 15).
KINK_MARGIN = 1e-3


@st.composite
def networks(draw):
    n_in = draw(st.integers(1, 6))
    hidden = draw(st.lists(st.integers(1, 16), min_size=0, max_size=4))
    k = draw(st.integers(2, 5))
    return [n_in, *hidden, k]


@given(
    sizes=networks(),
    activation=st.sampled_from(list(ACTIVATIONS)),
    loss=st.sampled_from(list(LOSSES)),
    batch=st.integers(1, 9),
    weight_decay=st.sampled_from([0.0, 0.05]),
    seed=st.integers(0, 2**32 - 1),
)
def test_backprop_equals_finite_differences(sizes, activation, loss, batch, weight_decay, seed):
    rng = np.random.default_rng(seed)
    net = MLP(
        sizes, activation=activation, loss=loss, weight_init="Xavier", seed=seed, dtype=np.float64
    )
    net.params += rng.normal(0, 0.1, net.params.size)  # non-zero biases too
    x = rng.normal(size=(batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    loss_value = net.backward(x, y, weight_decay=weight_decay)
    expected_loss = naive.loss_from_logits(naive.logits(sizes, net.params, activation, x), y, loss)
    assert np.isclose(loss_value, expected_loss, rtol=1e-12)
    assume(activation != "ReLU" or naive.relu_kink_distance(sizes, net.params, x) > KINK_MARGIN)
    numeric = naive.finite_difference_gradient(
        lambda p: naive.objective(sizes, p, activation, loss, weight_decay, x, y), net.params
    )
    analytic = net.grads
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    relative_error = np.linalg.norm(analytic - numeric) / max(scale, 1e-12)
    assert relative_error < 1e-6, relative_error


def test_weight_decay_leaves_biases_alone():
    net = MLP([3, 4, 2], dtype=np.float64, seed=1)
    net.params[:] = 1.0
    x, y = np.zeros((1, 3)), np.array([0])
    net.backward(x, y, weight_decay=0.0)
    plain = net.grads.copy()
    net.backward(x, y, weight_decay=0.5)
    mask = net.layout.weight_mask()
    np.testing.assert_allclose(net.grads[mask], plain[mask] + 0.5)
    np.testing.assert_array_equal(net.grads[~mask], plain[~mask])


@given(
    sizes=networks(),
    activation=st.sampled_from(list(ACTIVATIONS)),
    loss=st.sampled_from(list(LOSSES)),
    batch=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_float32_agrees_with_float64(sizes, activation, loss, batch, seed):
    """Same parameters in both precisions: probabilities within 1e-5 and gradients
    within 1e-3 relative (float32 rounding plus the 3e-7 error of fast_tanh)."""
    rng = np.random.default_rng(seed)
    single = MLP(sizes, activation=activation, loss=loss, seed=seed, dtype=np.float32)
    double = MLP(sizes, activation=activation, loss=loss, seed=seed, dtype=np.float64)
    double.params[:] = single.params
    x = rng.normal(size=(batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    np.testing.assert_allclose(single.predict_proba(x), double.predict_proba(x), atol=1e-5)
    loss32 = single.backward(x, y)
    loss64 = double.backward(x, y)
    assert abs(loss32 - loss64) <= 1e-5 * max(1.0, abs(loss64))
    err = np.linalg.norm(single.grads - double.grads) / max(np.linalg.norm(double.grads), 1e-3)
    assert err < 1e-3


@given(
    sizes=networks().filter(lambda s: len(s) > 2),
    activation=st.sampled_from(list(ACTIVATIONS)),
    loss=st.sampled_from(list(LOSSES)),
    batch=st.integers(1, 9),
    dropout=st.sampled_from([0.2, 0.5]),
    seed=st.integers(0, 2**32 - 1),
)
@example(
    sizes=[5, 15, 15, 15, 11, 2], activation="identity", loss="cross_entropy", batch=1,
    dropout=0.5, seed=1,
)  # fmt: skip
def test_dropout_gradient_equals_finite_differences(sizes, activation, loss, batch, dropout, seed):
    """With the masks the forward pass drew held fixed, backprop through dropout
    equals central finite differences of the masked network's loss."""
    from kernels.dropout import seed_rng

    rng = np.random.default_rng(seed)
    net = MLP(sizes, activation=activation, loss=loss, seed=seed, dtype=np.float64)
    net.params += rng.normal(0, 0.1, net.params.size)
    x = rng.normal(size=(batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    seed_rng(seed % 2**31)
    net.backward(x, y, dropout=dropout)
    ws = net.workspace(batch)
    offsets = net.layout.unit_offsets
    masks = {
        l: ws.masks[batch * offsets[l] : batch * offsets[l + 1]].reshape(batch, sizes[l])
        for l in range(1, len(sizes) - 1)
    }
    assert all(set(np.unique(m)) <= {0.0, 1 / (1 - dropout)} for m in masks.values())
    layer_masks = [masks[l + 1] for l in range(len(sizes) - 2)]
    assume(
        activation != "ReLU"
        or naive.relu_kink_distance(sizes, net.params, x, layer_masks) > KINK_MARGIN
    )
    numeric = naive.finite_difference_gradient(
        lambda p: naive.objective(sizes, p, activation, loss, 0.0, x, y, layer_masks), net.params
    )
    scale = np.linalg.norm(net.grads) + np.linalg.norm(numeric)
    # Plus an absolute floor for the central differences' own truncation error (h = 1e-5):
    # deep dropped-out identity layers shrink the gradient to ~1e-5, where that error
    # (7.9e-11 in the pinned example, on the code before and after the fused update) is a
    # relative 4e-6. A wrong gradient is off by the order of the gradient itself.
    assert np.linalg.norm(net.grads - numeric) < 1e-6 * max(scale, 1e-12) + 1e-9


def test_dropout_keeps_the_expected_share_and_scale():
    from kernels.dropout import dropout_forward, seed_rng

    seed_rng(3)
    a = np.ones((200, 500))
    mask = np.empty_like(a)
    dropout_forward(a, mask, 0.7)
    assert np.mean(mask > 0) == pytest.approx(0.7, abs=0.01)
    assert a.mean() == pytest.approx(1.0, abs=0.02)  # inverted dropout keeps the expectation
    np.testing.assert_array_equal(a, mask)


@pytest.mark.parametrize("input_dropout, dropout", [(0.3, 0.0), (0.2, 0.5)])
def test_a_step_with_input_dropout_follows_the_gradient_of_its_own_masks(input_dropout, dropout):
    """One SGD step of the compiled loop with input (and hidden) dropout: the loss and the new
    parameters are those of the slow reference evaluated on the input times the mask the loop
    drew (left in the workspace's layer 0), with its hidden masks."""
    import optimizers
    from kernels.dropout import seed_rng

    rng = np.random.default_rng(4)
    sizes, batch, lr = [6, 7, 3], 5, 0.1
    x, y = rng.normal(size=(batch, 6)), rng.integers(0, 3, batch).astype(np.int64)
    net = MLP(sizes, activation="tanh", dtype=np.float64, seed=1)
    start = net.params.copy()
    opt = optimizers.get("sgd")
    state = opt.init(net.layout.n_params, np.float64, dict(learning_rate=lr))
    seed_rng(5)
    order = np.arange(batch, dtype=np.int64)
    settings = StepSettings(dropout=dropout, input_dropout=input_dropout)
    _, losses, _ = net.train_steps(x, y, order, 0, 1, batch, opt, state, settings)
    masks = net.workspace(batch).masks
    input_mask = masks[: batch * 6].reshape(batch, 6)
    hidden = [masks[batch * 6 : batch * 13].reshape(batch, 7)] if dropout else None
    assert set(np.unique(input_mask)) == {0.0, 1 / (1 - input_dropout)}

    def objective(params):
        return naive.objective(
            sizes, params, "tanh", "cross_entropy", 0.0, x * input_mask, y, hidden
        )

    assert losses[0] == pytest.approx(objective(start), rel=1e-10)
    expected = start - lr * naive.finite_difference_gradient(objective, start)
    np.testing.assert_allclose(net.params, expected, rtol=1e-7, atol=1e-9)
