"""nbnet's MLPClassifier against scikit-learn's: seconds per epoch and test accuracy, side by side.

Both estimators get the same data, architecture, solver (Adam), learning rate, L2 penalty,
batch size and number of epochs (stopping rules off: ``n_iter_no_change`` above the epoch
count), and take turns, seed by seed. Two datasets:

* Fashion-MNIST, flattened and scaled to [0, 1]: ``--rows`` training images, the 10,000
  test images for the accuracy;
* ``make_classification`` with 100,000 rows of 40 features (10 informative, 5 classes),
  80% to train and 20% to test, made on the spot (nothing downloads).

Seconds per epoch is a whole ``fit`` divided by its epochs; ``fit`` overhead is nbnet's
``fit`` minus the epoch its training loop reports (validation, label encoding, copies, and
the warm-up step that loads the compiled kernels), as a share of a one-epoch ``fit``.

    python perf/estimator.py                         # batch 32 and 200, 3 seeds
    python perf/estimator.py --rows 500 --epochs 1 --seeds 1 --batch 32 --no-synthetic   # tests
"""

import argparse
import os
import platform
import statistics
import time
import warnings

# First: kernels/__init__ picks the OpenBLAS kernels before NumPy loads its own.
import kernels  # noqa: F401

# isort: split
import numpy as np

from experiments.data import read_idx
from experiments.estimator import MLPClassifier

from bench_cpu import DATA, load  # siblings


def fashion_mnist(rows):
    _, x_train, y_train = load(rows)  # float32 rows: what a scikit-learn user passes
    x_test = read_idx(DATA / "t10k-images-idx3-ubyte.gz", 3).reshape(-1, 784)
    y_test = read_idx(DATA / "t10k-labels-idx1-ubyte.gz", 1).astype(np.int64)
    return x_train, y_train, np.ascontiguousarray(x_test, dtype=np.float32) / 255, y_test


def synthetic():
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=100_000, n_features=40, n_informative=10, n_classes=5, random_state=0
    )
    X = X.astype(np.float32)
    cut = 80_000
    return X[:cut], y[:cut], X[cut:], y[cut:]


def settings(batch, epochs, seed, hidden):
    return dict(
        hidden_layer_sizes=hidden,
        activation="relu",
        solver="adam",
        alpha=1e-4,
        batch_size=batch,
        learning_rate_init=1e-3,
        max_iter=epochs,
        n_iter_no_change=epochs + 1,
        random_state=seed,
    )


def fit_seconds(model, x, y):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the epochs are fixed on purpose
        model.fit(x, y)
    return time.perf_counter() - start


def compare(name, data, batch, epochs, seeds, hidden):
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    x_train, y_train, x_test, y_test = data
    fit_seconds(MLPClassifier(**settings(batch, 1, 0, hidden)), x_train[:batch], y_train[:batch])
    seconds = {"nbnet": [], "sklearn": []}
    accuracy = {"nbnet": [], "sklearn": []}
    for seed in seeds:
        for who, cls in (("nbnet", MLPClassifier), ("sklearn", SklearnMLP)):
            model = cls(**settings(batch, epochs, seed, hidden))
            seconds[who].append(fit_seconds(model, x_train, y_train) / epochs)
            accuracy[who].append(model.score(x_test, y_test))
    one = MLPClassifier(**settings(batch, 1, seeds[0], hidden))
    whole = fit_seconds(one, x_train, y_train)
    loop = one._history.seconds_per_epoch  # the epoch itself; everything else is overhead
    nb, sk = (statistics.median(seconds[k]) for k in ("nbnet", "sklearn"))

    def spread(values):
        return (
            f"{100 * statistics.mean(values):.2f} ({100 * min(values):.2f}-{100 * max(values):.2f})"
        )

    return (
        f"| {name} | {batch} | {nb:.3f} | {sk:.3f} | {sk / nb:.1f}x | {spread(accuracy['nbnet'])} "
        f"| {spread(accuracy['sklearn'])} | {100 * (whole - loop) / whole:.1f}% |"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="Fashion-MNIST training rows")
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 200])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--no-synthetic", action="store_true", help="Fashion-MNIST only")
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds))
    hidden = tuple(args.hidden)
    print(
        "| data | batch | nbnet s/epoch | scikit-learn s/epoch | scikit-learn / nbnet "
        "| nbnet test acc % (mean, range) | scikit-learn test acc % | nbnet fit overhead |"
    )
    print("|---|---|---|---|---|---|---|---|")
    datasets = [("Fashion-MNIST", fashion_mnist(args.rows))]
    if not args.no_synthetic:
        datasets.append(("make_classification 100k x 40", synthetic()))
    for name, data in datasets:
        for batch in args.batch:
            print(compare(name, data, batch, args.epochs, seeds, hidden), flush=True)
    import sklearn

    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"scikit-learn {sklearn.__version__}; {'-'.join(map(str, hidden))} ReLU, Adam lr 1e-3, "
        f"alpha 1e-4, {args.epochs} epochs, seeds {seeds}; median s/epoch over the seeds"
    )


if __name__ == "__main__":
    main()
