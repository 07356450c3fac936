"""Random affine distortions of training images, drawn per sample per epoch.

Each training image (a ``side x side`` row-major row of ``X``) is resampled as
it is gathered into the batch, so no distorted copy of the dataset is ever
stored. The distortion of an image maps its centred pixel coordinates ``p``
(``p = (x, y) - c``, ``c = ((side - 1)/2, (side - 1)/2)``, ``x`` the column,
``y`` the row) to

    p' = M R(angle) s p + t,

a mirror ``M`` (``diag(-1, 1)`` with probability 1/2 when flips are on, else the
identity), a rotation by ``angle``, a scaling by ``s`` and a translation ``t``.
Each output pixel takes the value of the source at the inverse image of its
centre, by bilinear interpolation with zero outside the image:

    src = R(-angle) M (p' - t) / s + c.

A whole-pixel translation therefore moves the pixels exactly (``np.roll`` with
zero fill), the identity leaves the image unchanged, and small rotations and
translations keep the pixel mass (an upscaling by ``s`` multiplies it by about
``s**2``). The parameters are uniform in ``angle in [-rotate, rotate]``,
``s in [1 - scale, 1 + scale]`` and ``t in [-shift, shift]^2``, drawn from
:mod:`kernels.counter` with counters ``position * DRAWS + k``, ``position``
being the sample's place in the epoch's order: the same on the CPU and the GPU,
and reproducible from the epoch's seed alone.

The scalar functions ending in ``_py`` (and those of :func:`distortion_of` and
:func:`bilinear_of`) are the one definition of the math; they are compiled here for the
CPU and in :mod:`kernels.cuda.steps` for the GPU.
"""

import math
from typing import NamedTuple

from .config import JIT
from .counter import counter_uniform
from .pixels import input_value

#: Uniform draws per sample: angle, scale, two shifts, mirror.
DRAWS = 5


class Augment(NamedTuple):
    """How to distort the training images (all ranges are maxima, drawn uniformly).

    ``on`` switches it; ``side`` is the images' side in pixels (features =
    ``side**2``); ``shift`` in pixels per axis; ``rotate`` in radians; ``scale`` a
    fraction; ``flip`` mirrors left-right half the time; ``seed`` is the epoch's.
    """

    on: bool
    side: int
    shift: float
    rotate: float
    scale: float
    flip: bool
    seed: int


#: No distortion (the training images are copied as they are).
OFF = Augment(False, 0, 0.0, 0.0, 0.0, False, 0)


def transform_py(aug, u_angle, u_scale, u_x, u_y, u_mirror):
    """The distortion ``(angle, s, tx, ty, mirror)`` from five uniforms in [0, 1)."""
    angle = aug.rotate * (2.0 * u_angle - 1.0)
    s = 1.0 + aug.scale * (2.0 * u_scale - 1.0)
    mirror = -1.0 if aug.flip and u_mirror < 0.5 else 1.0
    return angle, s, aug.shift * (2.0 * u_x - 1.0), aug.shift * (2.0 * u_y - 1.0), mirror


def inverse_map_py(side, angle, s, tx, ty, mirror):
    """Coefficients ``(a, b, e, c, d, f)`` of the inverse map: output pixel (x, y) samples
    the source at ``(a x + b y + e, c x + d y + f)`` (module docstring), float64."""
    centre = 0.5 * (side - 1)
    cos, sin = math.cos(angle) / s, math.sin(angle) / s
    # src - c = R(-angle) M (p' - t) / s, p' = dst - c; M's sign goes on the x column.
    a, b = mirror * cos, sin
    c, d = -mirror * sin, cos
    x0, y0 = -centre - tx, -centre - ty  # p' - t at pixel (0, 0)
    return a, b, a * x0 + b * y0 + centre, c, d, c * x0 + d * y0 + centre


def bilinear_of(input_value):
    """``bilinear(X, pixel_scale, row, side, sx, sy)``: ``X[row]`` (a ``side x side``
    image) at the point (column ``sx``, row ``sy``), interpolated bilinearly, zero outside
    the image; exact at whole pixels. Each pixel is read by one device's ``input_value``
    (:func:`kernels.pixels.input_value_py` compiled for it; ``pixel_scale``: None, or that
    of uint8 pixels). Returns the unrounded sum (float64); the caller stores it in its
    inputs' dtype."""

    def bilinear(X, pixel_scale, row, side, sx, sy):
        x0, y0 = math.floor(sx), math.floor(sy)
        fx, fy = sx - x0, sy - y0
        ix, iy = int(x0), int(y0)
        if ix < -1 or iy < -1 or ix >= side or iy >= side:
            return 0.0
        total = 0.0
        if 0 <= iy:
            if 0 <= ix:
                total += (1.0 - fx) * (1.0 - fy) * input_value(X, pixel_scale, row, iy * side + ix)
            if ix + 1 < side and fx != 0.0:
                total += fx * (1.0 - fy) * input_value(X, pixel_scale, row, iy * side + ix + 1)
        if iy + 1 < side and fy != 0.0:
            if 0 <= ix:
                total += (1.0 - fx) * fy * input_value(X, pixel_scale, row, (iy + 1) * side + ix)
            if ix + 1 < side and fx != 0.0:
                total += fx * fy * input_value(X, pixel_scale, row, (iy + 1) * side + ix + 1)
        return total

    return bilinear


transform = JIT(transform_py)
inverse_map = JIT(inverse_map_py)
bilinear = JIT(bilinear_of(input_value))


@JIT
def warp_row(X, pixel_scale, row, side, distortion, out):
    """``out`` (side*side,) <- ``X[row]`` distorted by ``distortion = (angle, s, tx, ty,
    mirror)`` (module docstring); ``pixel_scale``: None, or that of ``X``'s uint8 pixels
    (:mod:`kernels.pixels`)."""
    a, b, e, c, d, f = inverse_map(side, *distortion)
    for y in range(side):
        for x in range(side):
            out[y * side + x] = bilinear(
                X, pixel_scale, row, side, a * x + b * y + e, c * x + d * y + f
            )


def distortion_of(uniform, transform):
    """``distortion(aug, position) -> (angle, s, tx, ty, mirror)``, the distortion of the
    sample at ``position`` of the epoch drawn from ``aug.seed`` by one device's ``uniform``
    (:mod:`kernels.counter`) and ``transform`` (:func:`transform_py` compiled for it)."""

    def distortion(aug, position):
        base = position * DRAWS
        return transform(
            aug,
            uniform(aug.seed, base),
            uniform(aug.seed, base + 1),
            uniform(aug.seed, base + 2),
            uniform(aug.seed, base + 3),
            uniform(aug.seed, base + 4),
        )

    return distortion


distortion = JIT(distortion_of(counter_uniform, transform))


@JIT
def augmented_row(X, pixel_scale, row, aug, position, out):
    """``out`` <- ``X[row]`` with the random distortion of the sample at ``position`` of the
    epoch (drawn from ``aug.seed``); ``pixel_scale`` as in :func:`warp_row`."""
    warp_row(X, pixel_scale, row, aug.side, distortion(aug, position), out)
