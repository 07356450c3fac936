"""Classification metrics from labels and predictions."""

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes):
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as ``j``, shape (k, k)."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def per_class(matrix):
    """Precision ``C[j, j] / sum_i C[i, j]`` and recall ``C[i, i] / sum_j C[i, j]`` per class.

    A class never predicted (or never present) gets precision (recall) 0.
    """
    diag = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    precision = np.divide(diag, predicted, out=np.zeros_like(diag), where=predicted > 0)
    recall = np.divide(diag, actual, out=np.zeros_like(diag), where=actual > 0)
    return precision, recall


def most_confused(matrix, top=3):
    """The ``top`` off-diagonal cells, largest first, as ``(true, predicted, count)``."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(off, axis=None)[::-1][:top]
    return [
        (int(i), int(j), int(off[i, j]))
        for i, j in zip(*np.unravel_index(flat, off.shape))
        if off[i, j] > 0
    ]
