"""The analysis figures: sample grids (plain and augmented), confusion matrix, misclassified
gallery, loss curves.

Each function takes plain arrays and writes one PNG (matplotlib, Agg backend).
"""

import numpy as np

from .metrics import most_confused, per_class


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path, dpi=100):
    """Lay out, write and close a figure; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def sample_grid(path, images, labels, class_names, title, seed=0):
    """One randomly chosen image of each class in a labelled 2 x 5 grid."""
    plt = pyplot()
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(2, (len(class_names) + 1) // 2, figsize=(10, 4.6))
    for cls, ax in zip(range(len(class_names)), axes.ravel()):
        index = rng.choice(np.flatnonzero(labels == cls))
        ax.imshow(images[index], cmap="gray_r")
        ax.set_title(f"{cls}: {class_names[cls]}", fontsize=10)
        ax.axis("off")
    fig.suptitle(title)
    return save(fig, path)


def augment_grid(path, originals, distorted, title):
    """Each original image (first column) beside its distortions in later epochs.

    ``originals`` is (rows, side, side), ``distorted`` (rows, columns, side, side).
    """
    plt = pyplot()
    rows, columns = distorted.shape[:2]
    fig, axes = plt.subplots(rows, columns + 1, figsize=(1.3 * (columns + 1), 1.3 * rows + 0.5))
    axes = np.atleast_2d(axes)
    for r in range(rows):
        for c, image in enumerate([originals[r], *distorted[r]]):
            axes[r, c].imshow(image, cmap="gray_r", vmin=0, vmax=1)
            axes[r, c].axis("off")
            if r == 0:
                axes[r, c].set_title("original" if c == 0 else f"epoch {c}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def confusion_figure(path, matrix, class_names, title):
    """Row-normalised confusion matrix (percent of each true class, with counts), the three
    most confused pairs outlined and listed, and per-class precision and recall beside it."""
    plt = pyplot()
    fig, (ax, side) = plt.subplots(1, 2, figsize=(16, 8.5), gridspec_kw={"width_ratios": [3, 1.2]})
    _confusion_panel(plt, ax, matrix, class_names, title)
    _precision_recall_panel(side, *per_class(matrix), class_names)
    return save(fig, path)


def _confusion_panel(plt, ax, matrix, class_names, title):
    """The matrix as shares of each true class, mistakes in red, the top three outlined."""
    k = len(class_names)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0) * 100
    top = max(5, share[~np.eye(k, dtype=bool)].max())
    ax.imshow(np.where(np.eye(k, dtype=bool), np.nan, share), cmap="Reds", vmin=0, vmax=top)
    for i, j in zip(*np.nonzero(matrix)):
        color = "darkgreen" if i == j else ("white" if share[i, j] > 0.55 * top else "black")
        weight = "bold" if i == j else "normal"
        ax.text(
            j,
            i,
            f"{share[i, j]:.1f}%\n{matrix[i, j]}",
            ha="center",
            va="center",
            fontsize=7.5,
            fontweight=weight,
            color=color,
        )
    pairs = most_confused(matrix, top=3)
    for rank, (i, j, count) in enumerate(pairs, 1):
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5, ec="navy"))
        ax.text(
            j + 0.42,
            i - 0.38,
            str(rank),
            color="navy",
            fontsize=8,
            fontweight="bold",
            ha="right",
            va="top",
        )
    ax.set_xticks(range(k), class_names, rotation=40, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (each row sums to 100%)")
    confused = "; ".join(
        f"{n}. {class_names[i]} -> {class_names[j]} ({c})" for n, (i, j, c) in enumerate(pairs, 1)
    )
    ax.set_title(
        f"{title}\nred = share of the true class sent to the wrong column; "
        f"most confused: {confused}",
        fontsize=10,
    )


def _precision_recall_panel(side, precision, recall, class_names):
    """Per-class precision and recall as paired horizontal bars, labelled in percent."""
    y = np.arange(len(class_names))
    for offset, values, label, color in (
        (-0.2, precision, "precision", "C0"),
        (0.2, recall, "recall", "C1"),
    ):
        side.barh(y + offset, values * 100, height=0.4, label=label, color=color)
        for yi, value in enumerate(values):
            side.text(
                min(value * 100, 99),
                yi + offset,
                f"{value:.1%}",
                va="center",
                ha="right",
                fontsize=7,
                color="white",
            )
    side.set_yticks(y, class_names)
    side.invert_yaxis()
    side.set_xlim(max(0, 100 * min(precision.min(), recall.min()) - 10), 100)
    side.set_xlabel("%")
    side.set_title("per-class precision and recall")
    side.legend(loc="lower left", fontsize=8)


def misclassified_gallery(path, images, y_true, probabilities, class_names, title, count=24):
    """The ``count`` misclassified test images the model was most sure about, with the true
    label, the prediction and its probability."""
    plt = pyplot()
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    confidence = probabilities[wrong, predicted[wrong]]
    chosen = wrong[np.argsort(-confidence)][:count]
    cols = 8
    rows = max(1, -(-len(chosen) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.7, rows * 2.1))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, index in zip(np.ravel(axes), chosen):
        ax.imshow(images[index], cmap="gray_r")
        ax.set_title(
            f"true: {class_names[y_true[index]]}\npred: {class_names[predicted[index]]}"
            f"\n{probabilities[index, predicted[index]]:.1%} sure",
            fontsize=7,
        )
    fig.suptitle(
        f"{title}: {len(wrong)} of {len(y_true)} test images misclassified; "
        f"the {len(chosen)} most confident mistakes",
        fontsize=10,
    )
    return save(fig, path)


def loss_comparison(path, curves, title):
    """Train/validation loss and accuracy per epoch for cross-entropy against squared error.

    ``curves[(loss, optimizer)]`` is a list (one per seed) of per-epoch metric dicts. Lines
    are means over seeds, bands span the seeds' minimum to maximum.
    """
    plt = pyplot()
    panels = [
        ("train_loss", "training loss (each its own loss)"),
        ("val_loss", "validation loss (each its own loss)"),
        ("train_accuracy", "training accuracy"),
        ("val_accuracy", "validation accuracy"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    colors = {"cross_entropy": "C0", "mean_squared_error": "C3"}
    styles = ["-", "--", ":", "-."]
    optimizers = sorted({opt for _, opt in curves})
    for ax, (key, label) in zip(axes.ravel(), panels):
        for (loss, opt), runs in sorted(curves.items()):
            values = np.array([[m[key] for m in run] for run in runs])
            if key.endswith("accuracy"):
                values = values * 100
            epochs = np.arange(1, values.shape[1] + 1)
            mean = values.mean(axis=0)
            ax.plot(
                epochs,
                mean,
                styles[optimizers.index(opt) % 4],
                color=colors.get(loss, "C2"),
                label=f"{loss}, {opt} ({len(runs)} seeds)",
            )
            ax.fill_between(
                epochs,
                values.min(axis=0),
                values.max(axis=0),
                color=colors.get(loss, "C2"),
                alpha=0.15,
            )
        ax.set_title(label)
        ax.set_xlabel("epoch")
        if key.endswith("accuracy"):
            ax.set_ylabel("%")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title)
    return save(fig, path)


def record_curves(path, groups, title):
    """Validation accuracy per epoch of each record attempt, one panel per dataset.

    ``groups[(dataset, group)]`` is a list (one per seed) of per-epoch metric dicts; lines are
    means over seeds, bands span the seeds' minimum to maximum.
    """
    plt = pyplot()
    datasets = sorted({dataset for dataset, _ in groups})
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.5), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        finals = []
        for (name, group), runs in sorted(groups.items()):
            if name != dataset:
                continue
            length = min(len(run) for run in runs)
            values = np.array([[m["val_accuracy"] for m in run[:length]] for run in runs]) * 100
            epochs = np.arange(1, length + 1)
            (line,) = ax.plot(epochs, values.mean(axis=0), label=f"{group} ({len(runs)} seeds)")
            ax.fill_between(
                epochs, values.min(axis=0), values.max(axis=0), alpha=0.2, color=line.get_color()
            )
            finals.append(values.mean(axis=0)[-1])
        if finals:  # the last few percent, where the attempts differ
            ax.set_ylim(min(finals) - 2.0, max(finals) + 0.5)
        ax.set_title(dataset)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy, %")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    return save(fig, path)
