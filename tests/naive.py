"""Slow, obviously correct references that every fast kernel is tested against.

Plain NumPy in float64, written straight from the formulas, with no concern for
speed (STUMPY's ``tests/naive.py`` is the model).
"""

import numpy as np

ACTIVATION = {
    "identity": (lambda z: z, lambda z: np.ones_like(z)),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "ReLU": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
}


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def one_hot(y, k):
    t = np.zeros((len(y), k))
    t[np.arange(len(y)), y] = 1
    return t


def loss_from_logits(z, y, loss):
    """Mean loss of a batch, straight from the definitions."""
    p = softmax(z)
    if loss == "cross_entropy":
        return float(np.mean(-np.log(p[np.arange(len(y)), y])))
    return float(np.mean(np.sum((p - one_hot(y, z.shape[1])) ** 2, axis=1)))


def weights_and_biases(sizes, params):
    """Split a flat buffer into [W_l] and [b_l] by the documented layout."""
    Ws, bs, offset = [], [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        Ws.append(
            np.asarray(params[offset : offset + n_in * n_out], dtype=np.float64).reshape(
                n_in, n_out
            )
        )
        offset += n_in * n_out
        bs.append(np.asarray(params[offset : offset + n_out], dtype=np.float64))
        offset += n_out
    return Ws, bs


def logits(sizes, params, activation, x, masks=None):
    """Forward pass; ``masks[l]`` (optional) multiplies hidden layer ``l``'s output (dropout)."""
    f, _ = ACTIVATION[activation]
    Ws, bs = weights_and_biases(sizes, params)
    a = np.asarray(x, dtype=np.float64)
    for l, (W, b) in enumerate(zip(Ws, bs)):
        z = a @ W + b
        a = f(z) if l < len(Ws) - 1 else z
        if masks is not None and l < len(Ws) - 1:
            a = a * masks[l]
    return a


def relu_kink_distance(sizes, params, x, masks=None):
    """The smallest ``|z|`` over the hidden pre-activations: how far the batch is from a
    ReLU's kink. Central differences across the kink measure a one-sided slope, so
    gradient checks of ReLU networks skip batches that sit right at it."""
    Ws, bs = weights_and_biases(sizes, params)
    a = np.asarray(x, dtype=np.float64)
    closest = np.inf
    for l, (W, b) in enumerate(zip(Ws[:-1], bs[:-1])):
        z = a @ W + b
        closest = min(closest, float(np.abs(z).min()))
        a = np.maximum(z, 0) * (masks[l] if masks is not None else 1)
    return closest


def objective(sizes, params, activation, loss, weight_decay, x, y, masks=None):
    """Mean data loss plus (weight_decay / 2) * sum of squared weights."""
    Ws, _ = weights_and_biases(sizes, params)
    penalty = 0.5 * weight_decay * sum(float(np.sum(W * W)) for W in Ws)
    return loss_from_logits(logits(sizes, params, activation, x, masks), y, loss) + penalty


def finite_difference_gradient(fun, params, h=1e-5):
    """Central differences ``(f(p + h e_k) - f(p - h e_k)) / 2h`` for every k."""
    params = np.array(params, dtype=np.float64)
    grad = np.zeros_like(params)
    for k in range(params.size):
        old = params[k]
        params[k] = old + h
        up = fun(params)
        params[k] = old - h
        down = fun(params)
        params[k] = old
        grad[k] = (up - down) / (2 * h)
    return grad


# ----------------------------------------------------------------- optimizers
# Each function transcribes the published rule for one step; ``state`` is a dict.


def sgd(w, g, state, hp, loss):
    return w - hp["learning_rate"] * g


def momentum(w, g, state, hp, loss):
    u = hp["momentum"] * state.get("u", 0) + hp["learning_rate"] * g
    state["u"] = u
    return w - u


def nag(w, g, state, hp, loss):
    # Textbook NAG with the look-ahead variable substituted (Bengio et al. 2012).
    mu, lr = hp["momentum"], hp["learning_rate"]
    u = mu * state.get("u", 0) + lr * g
    state["u"] = u
    return w - (mu * u + lr * g)


def rmsprop(w, g, state, hp, loss):
    v = hp["beta"] * state.get("v", 0) + (1 - hp["beta"]) * g**2
    state["v"] = v
    return w - hp["learning_rate"] * g / (np.sqrt(v) + hp["epsilon"])


def _moments(g, state, hp):
    t = state.get("t", 0) + 1
    m = hp["beta1"] * state.get("m", 0) + (1 - hp["beta1"]) * g
    v = hp["beta2"] * state.get("v", 0) + (1 - hp["beta2"]) * g**2
    state.update(t=t, m=m, v=v)
    return t, m / (1 - hp["beta1"] ** t), v / (1 - hp["beta2"] ** t)


def adam(w, g, state, hp, loss):
    _, m_hat, v_hat = _moments(g, state, hp)
    return w - hp["learning_rate"] * m_hat / (np.sqrt(v_hat) + hp["epsilon"])


def nadam(w, g, state, hp, loss):
    t, _, v_hat = _moments(g, state, hp)
    b1 = hp["beta1"]
    m_bar = b1 * state["m"] / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
    return w - hp["learning_rate"] * m_bar / (np.sqrt(v_hat) + hp["epsilon"])


def eve(w, g, state, hp, loss, beta3=0.999, k=0.1, K=10.0):
    t, m_hat, v_hat = _moments(g, state, hp)
    if t == 1:
        d, f_hat = 1.0, loss
    else:
        f_prev = state["f_hat"]
        lo, hi = (k + 1, K + 1) if loss >= f_prev else (1 / (K + 1), 1 / (k + 1))
        c = min(max(lo, loss / f_prev), hi)
        f_hat = c * f_prev
        r = abs(f_hat - f_prev) / min(f_hat, f_prev)
        d = beta3 * state["d"] + (1 - beta3) * r
    state.update(d=d, f_hat=f_hat)
    return w - hp["learning_rate"] * m_hat / (d * np.sqrt(v_hat) + hp["epsilon"])


OPTIMIZERS = {f.__name__: f for f in (sgd, momentum, nag, rmsprop, adam, nadam, eve)}


def affine_warp(image, angle, s, tx, ty, mirror):
    """``image`` (side, side) under the forward map ``p' = M R(angle) s p + t`` of
    kernels/augment.py, resampled bilinearly with zero outside.

    The inverse map is found by inverting the forward matrix numerically (not by the
    kernel's closed form), and each output pixel interpolates its four neighbours."""
    side = image.shape[0]
    c = (side - 1) / 2
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = np.diag([mirror, 1.0]) @ rotation * s
    inverse = np.linalg.inv(forward)
    out = np.zeros((side, side))
    for y in range(side):
        for x in range(side):
            sx, sy = inverse @ np.array([x - c - tx, y - c - ty]) + c
            x0, y0 = int(np.floor(sx)), int(np.floor(sy))
            fx, fy = sx - x0, sy - y0
            value = 0.0
            for dy, wy in ((0, 1 - fy), (1, fy)):
                for dx, wx in ((0, 1 - fx), (1, fx)):
                    yy, xx = y0 + dy, x0 + dx
                    if 0 <= yy < side and 0 <= xx < side:
                        value += wy * wx * image[yy, xx]
            out[y, x] = value
    return out


def max_norm(W, limit):
    """Each column of ``W`` rescaled to norm ``limit`` if it is longer."""
    W = np.asarray(W, dtype=np.float64)
    norms = np.linalg.norm(W, axis=0)
    return W * np.where(norms > limit, limit / np.maximum(norms, 1e-300), 1.0)


def moving_average(start, values, decay):
    """``ema_t = decay * ema_{t-1} + (1 - decay) * values[t]`` from ``ema_0 = start``."""
    ema = np.asarray(start, dtype=np.float64)
    for v in values:
        ema = decay * ema + (1 - decay) * np.asarray(v, dtype=np.float64)
    return ema
