"""The MLP: layout, initialisers, step loop, evaluation, saving."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import optimizers
from network import MLP, Layout
from network.mlp import EVAL_CHUNK
from network.trainer import StepSettings
from tests import naive
from tests.conftest import HYPER


def test_layout_offsets_and_views_share_the_flat_buffer():
    net = MLP([5, 3, 2], seed=0)
    assert net.layout.n_params == 5 * 3 + 3 + 3 * 2 + 2
    assert list(net.layout.param_offsets) == [0, 18]
    net.weights(1)[0, 1] = 42.0
    assert net.params[18 + 1] == 42.0
    net.biases(0)[:] = 7.0
    assert np.all(net.params[15:18] == 7.0)


def test_softmax_regression_has_no_hidden_layer(rng):
    net = MLP([6, 3], activation="sigmoid", dtype=np.float64, seed=0)
    x = rng.normal(size=(4, 6))
    expected = naive.softmax(x @ net.weights(0) + net.biases(0))
    np.testing.assert_allclose(net.predict_proba(x), expected, rtol=1e-12)


@pytest.mark.parametrize("bad", [[5], [5, 0, 3], []])
def test_layout_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="layer sizes"):
        Layout(tuple(bad))


def test_initialisers():
    sizes = [300, 200, 10]
    xavier = MLP(sizes, weight_init="Xavier", seed=0)
    limit = np.sqrt(6 / 500)
    assert np.abs(xavier.weights(0)).max() <= limit
    assert np.std(xavier.weights(0)) == pytest.approx(limit / np.sqrt(3), rel=0.02)
    assert np.std(MLP(sizes, weight_init="random", seed=0).weights(0)) == pytest.approx(
        0.01, rel=0.02
    )
    assert np.std(MLP(sizes, weight_init="He", seed=0).weights(0)) == pytest.approx(
        np.sqrt(2 / 300), rel=0.02
    )
    assert np.all(xavier.biases(0) == 0)
    with pytest.raises(ValueError, match="choose from random, Xavier, He"):
        MLP(sizes, weight_init="xavier")


def test_seeded_and_reproducible():
    a, b, c = MLP([8, 4, 3], seed=3), MLP([8, 4, 3], seed=3), MLP([8, 4, 3], seed=4)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)


def test_bad_names_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="choose from identity, sigmoid, tanh, ReLU"):
        MLP([2, 2], activation="relu")
    with pytest.raises(ValueError, match="choose from cross_entropy, mean_squared_error"):
        MLP([2, 2], loss="mse")
    net = MLP([2, 2])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        net.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="labels must lie"):
        net.evaluate(np.zeros((1, 2)), np.array([2]))


def test_evaluate_in_chunks_equals_the_reference(rng):
    n = 2 * EVAL_CHUNK + 37  # three chunks, the last one partial
    net = MLP([7, 5, 4], activation="ReLU", dtype=np.float64, seed=0)
    x, y = rng.normal(size=(n, 7)), rng.integers(0, 4, n)
    loss, accuracy = net.evaluate(x, y)
    logits = naive.logits(net.sizes, net.params, "ReLU", x)
    assert loss == pytest.approx(naive.loss_from_logits(logits, y, "cross_entropy"), rel=1e-12)
    assert accuracy == np.mean(logits.argmax(axis=1) == y)
    np.testing.assert_array_equal(net.predict(x), logits.argmax(axis=1))


@given(n=st.integers(1, 40), batch=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_step_loop_visits_every_sample_exactly_once(n, batch, seed):
    """With a learning rate of 0 the parameters stay put, so each step's loss and
    correct count must equal those of its slice of ``order``: the steps of an
    epoch then cover every sample once, the last partial batch included."""
    rng = np.random.default_rng(seed)
    net = MLP([3, 4, 3], dtype=np.float64, seed=seed)
    x, y = rng.normal(size=(n, 3)), rng.integers(0, 3, n)
    order = rng.permutation(n).astype(np.int64)
    opt = optimizers.get("sgd")
    state = opt.init(net.layout.n_params, net.dtype, dict(learning_rate=0.0))
    steps = -(-n // batch)
    done, losses, corrects = net.train_steps(x, y, order, 0, steps, batch, opt, state)
    assert done == steps
    logits = naive.logits(net.sizes, net.params, "tanh", x)
    per_sample = np.array(
        [naive.loss_from_logits(logits[i : i + 1], y[i : i + 1], "cross_entropy") for i in range(n)]
    )
    hits = logits.argmax(axis=1) == y
    for s in range(steps):
        rows = order[s * batch : (s + 1) * batch]
        assert losses[s] == pytest.approx(per_sample[rows].mean(), rel=1e-10)
        assert corrects[s] == hits[rows].sum()
    sizes = np.diff(np.minimum(np.arange(steps + 1) * batch, n))
    assert np.sum(losses * sizes) == pytest.approx(per_sample.sum(), rel=1e-10)
    assert corrects.sum() == hits.sum()


@pytest.mark.parametrize("name", list(optimizers.REGISTRY))
def test_step_loop_equals_python_loop_of_backward_and_reference_update(name, rng):
    n, batch = 23, 5
    net = MLP([4, 6, 3], activation="sigmoid", loss="mean_squared_error", dtype=np.float64, seed=1)
    twin = MLP([4, 6, 3], activation="sigmoid", loss="mean_squared_error", dtype=np.float64, seed=1)
    x, y = rng.normal(size=(n, 4)), rng.integers(0, 3, n)
    order = rng.permutation(n).astype(np.int64)
    opt = optimizers.get(name)
    state = opt.init(net.layout.n_params, net.dtype, HYPER)
    net.train_steps(x, y, order, 0, 5, batch, opt, state, StepSettings(weight_decay=0.01))
    ref_state = {}
    w = twin.params.copy()
    for s in range(5):
        rows = order[s * batch : (s + 1) * batch]
        twin.params[:] = w
        loss = twin.backward(x[rows], y[rows], weight_decay=0.01)
        w = naive.OPTIMIZERS[name](w, twin.grads.copy(), ref_state, HYPER, loss)
    np.testing.assert_allclose(net.params, w, rtol=1e-10, atol=1e-12)


def test_step_loop_stops_at_a_non_finite_loss(rng):
    net = MLP([3, 4, 2], seed=0)
    x, y = rng.normal(size=(20, 3)).astype(np.float32), rng.integers(0, 2, 20)
    x[7] = np.nan
    opt = optimizers.get("adam")
    state = opt.init(net.layout.n_params, net.dtype, HYPER)
    order = np.arange(20, dtype=np.int64)
    done, losses, _ = net.train_steps(x, y, order, 0, 4, 5, opt, state)
    assert done == 2 and np.isnan(losses[1]) and np.isfinite(losses[0])
    assert np.all(np.isfinite(net.params)), "the bad step must not update the parameters"
    assert state.scalars[0] == 1


def test_save_and_load_round_trip(tmp_path, rng):
    net = MLP([6, 5, 3], activation="ReLU", loss="mean_squared_error", weight_init="He", seed=2)
    path = net.save(tmp_path / "deep" / "model.npz", epochs=3, val_accuracy=0.5)
    loaded, metadata = MLP.load(path)
    assert metadata == {"epochs": 3, "val_accuracy": 0.5}
    assert loaded.architecture() == net.architecture()
    x = rng.normal(size=(10, 6))
    np.testing.assert_array_equal(loaded.predict_proba(x), net.predict_proba(x))
    assert not list(tmp_path.glob("**/*.tmp"))


def test_loading_garbage_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not an nbnet model file"):
        MLP.load(bad)


@pytest.mark.parametrize("content", [b"", "truncated"])
def test_loading_an_empty_or_truncated_model_is_a_clear_error(tmp_path, content):
    path = tmp_path / "model.npz"
    if content == "truncated":
        MLP([4, 3, 2]).save(path)
        content = path.read_bytes()[:-40]
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not an nbnet model file"):
        MLP.load(path)


def test_a_failed_save_keeps_the_previous_model_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    MLP([4, 3, 2], seed=1).save(path)
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError, match="No space left"):
        MLP([4, 3, 2], seed=2).save(path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]
