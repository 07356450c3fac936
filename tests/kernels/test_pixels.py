"""Training sets kept as uint8 pixels (kernels/pixels.py): read as exactly the float inputs."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import optimizers
from experiments.data import as_inputs, as_pixels
from kernels import steps
from kernels.augment import OFF, Augment
from kernels.pixels import PIXEL_SCALE, as_rows, input_value, pixel_levels
from network import MLP
from network.cpu_trainer import CpuTrainer
from network.trainer import StepSettings
from tests.conftest import HYPER

COMPILED = settings(deadline=None, max_examples=20)


def test_every_level_reads_as_its_quotient_by_255():
    """The definition is float32(k) / float32(255), in either dtype; the kernels' float64
    product rounds to exactly it for every level, where a float32 product with 1/255 (what
    fastmath makes of a float32 division) does not."""
    levels = np.arange(256)
    for k in levels:
        assert pixel_levels(np.float32)[k] == np.float32(k) / np.float32(255)
        assert pixel_levels(np.float64)[k] == np.float64(np.float32(k) / np.float32(255))
    assert pixel_levels()[0] == 0.0 and pixel_levels()[255] == 1.0
    pixels = levels.astype(np.uint8).reshape(1, -1)
    read = [input_value(pixels, PIXEL_SCALE, 0, j) for j in range(256)]
    np.testing.assert_array_equal(np.array(read, np.float32), pixel_levels())
    single = levels.astype(np.float32) * np.float32(1 / 255)
    assert not np.array_equal(single, pixel_levels())


@COMPILED
@given(n=st.integers(0, 9), side=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_images_as_inputs_are_their_pixels_read_through_the_table(n, side, seed):
    images = np.random.default_rng(seed).integers(0, 256, (n, side, side)).astype(np.uint8)
    pixels = as_pixels(images)
    assert pixels.dtype == np.uint8 and pixels.shape == (n, side * side)
    assert pixels.flags.c_contiguous
    inputs = as_inputs(images)
    expected = images.reshape(n, side * side).astype(np.float32) / np.float32(255)
    assert inputs.dtype == np.float32
    np.testing.assert_array_equal(inputs, expected)
    np.testing.assert_array_equal(as_rows(pixels, np.float32), inputs)


def _augment(on, side, seed):
    return Augment(True, side, 1.0, 0.5, 0.2, True, seed) if on else OFF


@COMPILED
@given(
    n=st.integers(1, 12),
    side=st.integers(2, 6),
    batch=st.integers(1, 12),
    distort=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_batch_gathered_from_pixels_equals_the_one_gathered_from_inputs(
    n, side, batch, distort, seed
):
    """Bit for bit, plain or distorted, for any batch of a shuffled epoch."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, side, side)).astype(np.uint8)
    pixels, inputs = as_pixels(images), as_inputs(images)
    labels = rng.integers(0, 3, n).astype(np.int64)
    order = rng.permutation(n).astype(np.int64)
    aug = _augment(distort, side, seed % 1000)
    start = int(rng.integers(0, n))
    rows = min(batch, n - start)
    gathered = []
    for X, pixel_scale in ((pixels, PIXEL_SCALE), (inputs, None)):
        x = np.full((rows, side * side), np.nan, np.float32)
        y = np.full(rows, -1, np.int64)
        steps.gather_batch(X, pixel_scale, labels, order, aug, start, rows, x, y)
        np.testing.assert_array_equal(y, labels[order[start : start + rows]])
        gathered.append(x)
    np.testing.assert_array_equal(*gathered)
    if not distort:
        np.testing.assert_array_equal(gathered[0], inputs[order[start : start + rows]])


def _trained(x, y, order, settings, dtype):
    net = MLP([x.shape[1], 6, 3], activation="tanh", dtype=dtype, seed=1)
    opt = optimizers.get("adam")
    state = opt.init(net.layout.n_params, dtype, HYPER)
    trainer = CpuTrainer(net, opt, state, x, y, 4, settings)
    trainer.seed_epoch(3)
    losses, corrects = np.empty(3), np.empty(3, np.int64)
    assert trainer.train_steps(order, 0, 3, losses, corrects) == 3
    return net, state, losses, trainer


def test_training_on_pixels_equals_training_on_their_inputs():
    """The same model, bit for bit, in float32 and float64, with distortions and without;
    the trainer's and the network's evaluation read pixels the same way."""
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (11, 3, 3)).astype(np.uint8)
    y = rng.integers(0, 3, 11).astype(np.int64)
    order = rng.permutation(11).astype(np.int64)
    for dtype in (np.float32, np.float64):
        for distort in (False, True):
            settings = StepSettings(augment=_augment(distort, 3, 0))
            inputs = as_rows(as_inputs(images), dtype)
            a = _trained(as_pixels(images), y, order, settings, dtype)
            b = _trained(inputs, y, order, settings, dtype)
            np.testing.assert_array_equal(a[2], b[2])
            np.testing.assert_array_equal(a[0].params, b[0].params)
            np.testing.assert_array_equal(a[1].slots, b[1].slots)
            assert a[3].evaluate(as_pixels(images), y) == b[3].evaluate(inputs, y)
            np.testing.assert_array_equal(
                a[0].predict_proba(as_pixels(images)), b[0].predict_proba(inputs)
            )
