"""Image distortions (kernels/augment.py) against a plain NumPy resampling."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optimizers
from kernels import augment
from kernels.augment import OFF, Augment
from network import MLP
from network.trainer import StepSettings
from tests import naive

COMPILED = settings(deadline=None, max_examples=30)


def _warp(image, angle=0.0, s=1.0, tx=0.0, ty=0.0, mirror=1.0):
    side = image.shape[0]
    out = np.empty(side * side, dtype=image.dtype)
    augment.warp_row(image.reshape(1, -1), None, 0, side, (angle, s, tx, ty, mirror), out)
    return out.reshape(side, side)


def _digit(rng, side, margin):
    """A random image whose ink stays ``margin`` pixels away from every edge."""
    image = np.zeros((side, side), dtype=np.float32)
    inner = side - 2 * margin
    image[margin:-margin, margin:-margin] = rng.random((inner, inner)) * (
        rng.random((inner, inner)) < 0.6
    )
    return image


@COMPILED
@given(side=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_the_identity_leaves_an_image_unchanged(side, seed):
    image = np.random.default_rng(seed).random((side, side)).astype(np.float32)
    np.testing.assert_array_equal(_warp(image), image)


@COMPILED
@given(
    side=st.integers(1, 12),
    dx=st.integers(-13, 13),
    dy=st.integers(-13, 13),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_whole_pixel_shift_is_np_roll_with_zero_fill(side, dx, dy, seed):
    image = np.random.default_rng(seed).random((side, side)).astype(np.float32)
    expected = np.roll(image, (dy, dx), axis=(0, 1))
    rows, cols = np.arange(side)[:, None], np.arange(side)[None, :]
    expected[(rows - dy < 0) | (rows - dy >= side) | (cols - dx < 0) | (cols - dx >= side)] = 0
    np.testing.assert_array_equal(_warp(image, tx=dx, ty=dy), expected)


@COMPILED
@given(side=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_the_mirror_reverses_each_row(side, seed):
    image = np.random.default_rng(seed).random((side, side)).astype(np.float32)
    np.testing.assert_array_equal(_warp(image, mirror=-1.0), image[:, ::-1])


@COMPILED
@given(
    side=st.integers(2, 10),
    angle=st.floats(-math.pi, math.pi),
    s=st.floats(0.5, 2.0),
    tx=st.floats(-3, 3),
    ty=st.floats(-3, 3),
    mirror=st.sampled_from([-1.0, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_distortion_is_the_bilinear_resampling_of_its_inverse_map(
    side, angle, s, tx, ty, mirror, seed
):
    """Against naive.affine_warp, which inverts the forward matrix numerically."""
    image = np.random.default_rng(seed).random((side, side))
    got = _warp(image, angle, s, tx, ty, mirror)
    np.testing.assert_allclose(got, naive.affine_warp(image, angle, s, tx, ty, mirror), atol=1e-9)


def test_a_quarter_turn_is_rot90():
    """A positive angle turns the image clockwise on the screen (rows grow downwards)."""
    image = np.random.default_rng(0).random((7, 7))
    np.testing.assert_allclose(_warp(image, angle=math.pi / 2), np.rot90(image, k=-1), atol=1e-12)


@COMPILED
@given(
    angle=st.floats(-math.radians(15), math.radians(15)),
    tx=st.floats(-2, 2),
    ty=st.floats(-2, 2),
    s=st.floats(0.9, 1.1),
    seed=st.integers(0, 2**32 - 1),
)
def test_small_distortions_keep_the_pixel_mass(angle, tx, ty, s, seed):
    """Rotations up to 15 degrees and shifts up to 2 pixels of a 28x28 image whose ink stays 4
    pixels inside keep its total within 3%; a scaling by s multiplies it by s**2, within 3%."""
    image = _digit(np.random.default_rng(seed), 28, 4).astype(np.float64)
    warped = _warp(image, angle, s, tx, ty)
    assert warped.sum() == pytest.approx(image.sum() * s**2, rel=0.03)


@given(u=st.tuples(*[st.floats(0, 1, exclude_max=True)] * 5))
def test_drawn_distortions_stay_within_the_ranges(u):
    aug = Augment(True, 28, 2.0, 0.3, 0.1, True, 0)
    angle, s, tx, ty, mirror = augment.transform_py(aug, *u)
    assert abs(angle) <= 0.3 and 0.9 <= s <= 1.1 and abs(tx) <= 2 and abs(ty) <= 2
    assert mirror == (-1.0 if u[4] < 0.5 else 1.0)
    assert augment.transform_py(aug._replace(flip=False), *u)[4] == 1.0


def test_each_sample_gets_its_own_distortion_every_epoch():
    """The same (seed, position) gives the same image; another position or epoch's seed
    another one."""
    rng = np.random.default_rng(1)
    X = _digit(rng, 28, 4).reshape(1, -1)
    aug = Augment(True, 28, 2.0, math.radians(10), 0.1, False, 7)
    images = {}
    for seed, position in ((7, 0), (7, 0), (7, 1), (8, 0)):
        out = np.empty(784, dtype=np.float32)
        augment.augmented_row(X, None, 0, aug._replace(seed=seed), position, out)
        images.setdefault((seed, position), []).append(out)
    np.testing.assert_array_equal(*images[(7, 0)])
    assert not np.array_equal(images[(7, 0)][0], images[(7, 1)][0])
    assert not np.array_equal(images[(7, 0)][0], images[(8, 0)][0])


def test_the_step_loop_trains_on_the_distorted_rows():
    """With a learning rate of 0, each step's loss is that of the distorted batch; with every
    range 0 the distortion is the identity and the losses are those of the plain rows."""
    rng = np.random.default_rng(2)
    n, batch = 12, 4
    x = rng.random((n, 16)).astype(np.float32)
    y = rng.integers(0, 3, n).astype(np.int64)
    order = rng.permutation(n).astype(np.int64)
    net = MLP([16, 5, 3], seed=0)
    opt = optimizers.get("sgd")
    state = opt.init(net.layout.n_params, net.dtype, dict(learning_rate=0.0))
    aug = Augment(True, 4, 1.0, 0.4, 0.2, True, 11)
    _, losses, _ = net.train_steps(x, y, order, 0, 3, batch, opt, state, StepSettings(augment=aug))
    distorted = np.empty_like(x)
    for position, row in enumerate(order):
        augment.augmented_row(x, None, row, aug, position, distorted[position])
    for step in range(3):
        rows = slice(step * batch, (step + 1) * batch)
        expected, _ = net.evaluate(distorted[rows], y[order[rows]])
        assert losses[step] == pytest.approx(expected, rel=1e-5)
    still = Augment(True, 4, 0.0, 0.0, 0.0, False, 11)
    _, plain, _ = net.train_steps(x, y, order, 0, 3, batch, opt, state, StepSettings(augment=OFF))
    _, identity, _ = net.train_steps(
        x, y, order, 0, 3, batch, opt, state, StepSettings(augment=still)
    )
    np.testing.assert_array_equal(identity, plain)
