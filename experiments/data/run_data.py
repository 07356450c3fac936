"""The data of one run or sweep trial: its dataset loaded, split and turned into inputs."""

from typing import NamedTuple

import numpy as np

from .sources import Dataset, load_dataset
from .split import as_inputs, as_pixels, stratified_split


class RunData(NamedTuple):
    """A dataset and its stratified split: the training rows as uint8 pixels (the trainers
    read them as inputs while gathering, :mod:`kernels.pixels`), the validation rows as
    float32 inputs, and int64 labels; the test images stay in ``dataset``."""

    dataset: Dataset
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def run_data(config, include_test=True):
    """Load ``config.dataset`` (from ``config.data_dir``, ``strict_data`` as the run says) and
    split off ``val_fraction`` for validation, seeded by ``config.seed``. Raises DataError."""
    dataset = load_dataset(
        config.dataset, config.data_dir, include_test=include_test, strict=config.strict_data
    )
    split = stratified_split(dataset.y_train, config.val_fraction, config.seed)
    pixels = as_pixels(dataset.x_train)
    return RunData(
        dataset,
        pixels[split.train],
        dataset.y_train[split.train],
        as_inputs(dataset.x_train[split.val]),
        dataset.y_train[split.val],
    )
