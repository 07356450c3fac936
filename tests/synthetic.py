"""Small synthetic datasets written as real IDX files, for loader and end-to-end tests."""

import numpy as np

from experiments.data import FILES, write_idx


def make_images(n, rng, n_classes=10):
    """``n`` 28x28 uint8 images whose class is a bright horizontal band, plus noise."""
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 4 + 2 * label, :] = 255
    return images, labels.astype(np.uint8)


def write_dataset(folder, n_train=600, n_test=100, seed=0, gz=True):
    """Write the four IDX files into ``folder``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = make_images(n_train, rng)
    x_test, y_test = make_images(n_test, rng)
    arrays = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    suffix = ".gz" if gz else ""
    for key, stem in FILES.items():
        write_idx(folder / f"{stem}{suffix}", arrays[key])
    return arrays
