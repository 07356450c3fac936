"""The benchmark's strongest CPU peer: the same MLP as a plain JAX script, XLA-compiled.

What a JAX user writes: one ``jax.jit`` of a ``lax.scan`` over the epoch's batches
(gather, forward, loss, backward and the optax update, all inside), so XLA compiles the
whole epoch once and no Python runs per step. The last partial batch, if any, is one more
call of the same step jitted for its shape, so the epoch does the same work as nbnet's.

XLA's thread count is fixed when JAX starts: set ``XLA_FLAGS`` before the first call of
:func:`prepare` (perf/bench_cpu.py's ``--threads`` does).
"""

import math
import time

#: XLA_FLAGS for one thread: no Eigen thread pool, one intra-op thread.
ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def available():
    """True when jax and optax import."""
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError:
        return False
    return True


def _optimizer(optax, name, learning_rate, weight_decay):
    """optax's rule of the same name with L2 weight decay added to the gradient, as nbnet does."""
    rule = {"adam": optax.adam, "nadam": optax.nadam}[name]
    update = rule(learning_rate, b1=0.9, b2=0.999, eps=1e-8)
    if weight_decay:
        return optax.chain(optax.add_decayed_weights(weight_decay), update)
    return update


def prepare(x, y, order, batch, sizes, activation="tanh", optimizer="adam", lr=1e-3, wd=0.0):
    """``(epoch, compile_s, description)``: a warmed-up epoch function of the JAX script.

    ``x`` (N, 784) float32, ``y`` (N,) int64, ``order`` the epoch's row order; ``sizes``
    the layer widths; ``activation`` "tanh" or "ReLU"; ``optimizer`` "adam" or "nadam".
    """
    import jax
    import jax.numpy as jnp
    import optax

    act = {"tanh": jnp.tanh, "ReLU": jax.nn.relu}[activation]
    key = jax.random.PRNGKey(0)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        key, sub = jax.random.split(key)
        limit = math.sqrt(6.0 / (n_in + n_out))
        W = jax.random.uniform(sub, (n_in, n_out), jnp.float32, -limit, limit)
        params.append((W, jnp.zeros(n_out, jnp.float32)))
    opt = _optimizer(optax, optimizer, lr, wd)
    opt_state = opt.init(params)
    X, Y = jnp.asarray(x), jnp.asarray(y.astype("int32"))

    def loss_fn(p, xb, yb):
        h = xb
        for W, b in p[:-1]:
            h = act(h @ W + b)
        W, b = p[-1]
        return optax.softmax_cross_entropy_with_integer_labels(h @ W + b, yb).mean()

    def step(carry, idx):
        p, s = carry
        loss, grads = jax.value_and_grad(loss_fn)(p, X[idx], Y[idx])
        updates, s = opt.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), loss

    @jax.jit
    def full_batches(p, s, batches):
        (p, s), losses = jax.lax.scan(step, (p, s), batches)
        return p, s, losses

    @jax.jit
    def one_step(p, s, idx):
        (p, s), loss = step((p, s), idx)
        return p, s, loss

    n_full = len(order) // batch
    batches = jnp.asarray(order[: n_full * batch].reshape(n_full, batch).astype("int32"))
    tail = jnp.asarray(order[n_full * batch :].astype("int32"))
    state = [params, opt_state]

    def epoch():
        p, s, losses = full_batches(state[0], state[1], batches)
        if tail.shape[0]:
            p, s, _ = one_step(p, s, tail)
        jax.block_until_ready(p)
        state[0], state[1] = p, s

    start = time.perf_counter()
    epoch()  # XLA compiles both functions here
    compile_s = time.perf_counter() - start
    epoch()  # warm-up
    description = f"jax {jax.__version__}, optax {optax.__version__}"
    return epoch, compile_s, description
