"""The benchmark's baseline: the same MLP algorithm in plain, idiomatic NumPy.

Same layout (``x @ W + b``), tanh hidden layers, softmax cross-entropy and Adam
as nbnet, so an epoch does the same arithmetic. It is what a careful NumPy
programmer writes: vectorised, float32 throughout, no Python loop over samples.
"""

import numpy as np


class NumpyMLP:
    def __init__(self, sizes, seed=0, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        rng = np.random.default_rng(seed)
        self.W = []
        self.b = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            limit = np.sqrt(6.0 / (n_in + n_out))
            self.W.append(rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32))
            self.b.append(np.zeros(n_out, np.float32))
        self.params = self.W + self.b
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps

    def step(self, x, y):
        acts = [x]
        for W, b in zip(self.W[:-1], self.b[:-1]):
            acts.append(np.tanh(acts[-1] @ W + b))
        z = acts[-1] @ self.W[-1] + self.b[-1]
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        n = x.shape[0]
        loss = -np.log(p[np.arange(n), y] + 1e-12).mean()
        delta = p
        delta[np.arange(n), y] -= 1
        delta /= n
        gW, gb = [None] * len(self.W), [None] * len(self.W)
        for l in range(len(self.W) - 1, -1, -1):
            gW[l] = acts[l].T @ delta
            gb[l] = delta.sum(axis=0)
            if l > 0:
                delta = (delta @ self.W[l].T) * (1 - acts[l] ** 2)
        self.t += 1
        c1 = 1 - self.beta1**self.t
        c2 = 1 - self.beta2**self.t
        for p_, g, m, v in zip(self.params, gW + gb, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            p_ -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)
        return loss

    def epoch(self, X, y, order, batch_size):
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            total += self.step(X[idx], y[idx])
        return total
