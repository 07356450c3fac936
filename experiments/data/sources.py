"""Find, load and validate Fashion-MNIST and MNIST.

Where the files are looked for, in this order (the first complete set wins):

1. the folder given by ``--data_dir`` or the ``NBNET_DATA_DIR`` environment
   variable: the four IDX files (``*.gz`` or uncompressed) directly in it, or in
   a subfolder named after the dataset (``fashion-mnist``, ``fashion_mnist``,
   ``mnist``), or Keras's ``mnist.npz``. A ``--data_dir`` is the only place
   looked in: when it lacks the files that is an error naming it, never another
   place's files used in silence (the environment variable is a default, and the
   search goes on past it);
2. the Keras cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``) in
   Keras's own layout: ``fashion-mnist/*.gz`` and ``mnist.npz``;
3. Debian's ``dataset-fashion-mnist`` package, ``/usr/share/datasets/fashion-mnist``;
4. only when none of these has the files: a download through
   ``keras.datasets``, importing Keras then and only then. Keras wants a
   backend even for its datasets; nbnet selects the numpy backend, the lightest
   that works (no TensorFlow, JAX or PyTorch needed).
"""

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .identity import digest, foreign, identify, owner
from .idx import DataError, read_idx

FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

CLASS_NAMES = {
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "mnist": tuple(str(d) for d in range(10)),
}

SUBFOLDERS = {"fashion_mnist": ("fashion-mnist", "fashion_mnist"), "mnist": ("mnist",)}
DEBIAN_FOLDERS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
DOWNLOAD_HOST = ("storage.googleapis.com", 443)


@dataclass
class Dataset:
    """A dataset as uint8 images and int64 labels, with where it came from.

    ``digests`` holds the SHA-256 of each loaded array as an uncompressed IDX file
    (:mod:`.identity`); ``warning`` says when the files are another dataset's
    published files, ``note`` when they are none of the published files.
    """

    name: str
    x_train: np.ndarray  # (n_train, height, width) uint8
    y_train: np.ndarray  # (n_train,) int64
    x_test: np.ndarray | None  # None when loaded with include_test=False
    y_test: np.ndarray | None
    source: str
    digests: dict = field(default_factory=dict)
    warning: str | None = None
    note: str | None = None

    @property
    def verified(self):
        """True when every loaded file is one of ``name``'s published files."""
        return identify(self.digests) == self.name

    def record(self):
        """What a model file keeps of the data it was trained on."""
        return {"name": self.name, "verified": self.verified, "digests": self.digests}

    @property
    def class_names(self):
        return CLASS_NAMES[self.name]

    @property
    def n_features(self):
        return int(np.prod(self.x_train.shape[1:]))


def canonical_name(name):
    """``fashion-mnist`` and ``fashion_mnist`` are the same dataset."""
    canonical = name.replace("-", "_")
    if canonical not in CLASS_NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(CLASS_NAMES)}")
    return canonical


def keras_cache():
    """The Keras datasets folder: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home) / "datasets"


def candidate_folders(name, data_dir=None):
    """Folders that may hold the IDX files, in search order, with a label for each: only
    ``data_dir``'s when one is given."""
    folders = []
    base = data_dir or os.environ.get("NBNET_DATA_DIR")
    if base:
        base = Path(base).expanduser()
        folders.append((base, f"--data_dir {base}"))
        folders += [(base / sub, f"--data_dir {base / sub}") for sub in SUBFOLDERS[name]]
    if data_dir:
        return folders
    cache = keras_cache()
    folders += [(cache / sub, f"Keras cache {cache / sub}") for sub in SUBFOLDERS[name]]
    if name in DEBIAN_FOLDERS:
        folders.append((DEBIAN_FOLDERS[name], f"Debian package at {DEBIAN_FOLDERS[name]}"))
    return folders


def _idx_path(folder, stem):
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _validate(name, arrays, source):
    x_train, y_train = arrays["x_train"], arrays["y_train"]
    x_test, y_test = arrays.get("x_test"), arrays.get("y_test")
    pairs = [("train", x_train, y_train)]
    if x_test is not None:
        pairs.append(("test", x_test, y_test))
    for split, x, y in pairs:
        if x.ndim != 3 or y.ndim != 1:
            raise DataError(
                f"{source}: {split} images must be 3-D and labels 1-D, got {x.shape} and {y.shape}"
            )
        if x.shape[0] == 0:
            raise DataError(f"{source}: the {split} files hold no images; they are empty or cut")
        if x.shape[0] != y.shape[0]:
            raise DataError(
                f"{source}: {x.shape[0]} {split} images but {y.shape[0]} labels; "
                "the files do not belong together"
            )
        if y.size and y.max() >= len(CLASS_NAMES[name]):
            raise DataError(
                f"{source}: {split} labels reach {int(y.max())}, "
                f"{name} has {len(CLASS_NAMES[name])} classes"
            )
    if x_test is not None and x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{source}: train images are {x_train.shape[1:]} but test images {x_test.shape[1:]}"
        )
    digests = {key: digest(array) for key, array in arrays.items() if array is not None}
    return Dataset(
        name,
        x_train,
        y_train.astype(np.int64),
        x_test,
        None if y_test is None else y_test.astype(np.int64),
        source,
        digests,
    )


def check_identity(dataset, strict=False):
    """Set ``dataset.warning`` when its files are the other dataset's published files
    (raise DataError instead with ``strict``), or ``dataset.note`` when they are not
    published files at all (a user's own data still loads). Returns ``dataset``."""
    other = foreign(dataset.name, dataset.digests)
    if other is not None:
        theirs = [key for key, value in dataset.digests.items() if owner(value) == other]
        if len(theirs) == len(dataset.digests):
            message = (
                f"{dataset.source} holds {other}'s published files, not {dataset.name}'s; "
                f"pass -d {other}, or a --data_dir with {dataset.name}"
            )
        else:  # no -d fits: some files are one dataset's, some the other's (or neither's)
            files = ", ".join(FILES[key] for key in theirs)
            message = (
                f"{dataset.source} mixes datasets: {files} "
                + (
                    f"is {other}'s published file"
                    if len(theirs) == 1
                    else f"are {other}'s published files"
                )
                + ", the rest not; put one dataset's files in one folder"
            )
        if strict:
            raise DataError(message + " (refused: --strict_data)")
        dataset.warning = message
    elif not dataset.verified:
        dataset.note = (
            f"{dataset.source}: not the published {dataset.name} files "
            "(their SHA-256 digests are unknown); loaded as they are"
        )
    return dataset


def _wanted(include_test):
    return [key for key in FILES if include_test or key.endswith("_train")]


def _load_folder(name, folder, label, include_test):
    paths = {key: _idx_path(folder, FILES[key]) for key in _wanted(include_test)}
    if not any(paths.values()):
        return None
    missing = [FILES[key] for key, path in paths.items() if path is None]
    if missing:
        raise DataError(f"{folder}: incomplete {name} folder, missing {', '.join(missing)}")
    arrays = {key: read_idx(path, 3 if key.startswith("x") else 1) for key, path in paths.items()}
    return _validate(name, arrays, label)


def _load_npz(name, path, label, include_test):
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in _wanted(include_test)}
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(
            f"{path}: not a Keras {name} archive ({exc}); delete it and fetch it again"
        ) from None
    return _validate(name, arrays, label)


def _host_reachable(host, timeout=3.0):
    try:
        with socket.create_connection(host, timeout=timeout):
            return True
    except OSError:
        return False


def _how_to_get(name, data_dir):
    cache = keras_cache()
    keras_layout = (
        f"{cache}/fashion-mnist/*.gz" if name == "fashion_mnist" else f"{cache}/mnist.npz"
    )
    ways = [
        f"put the four IDX files ({', '.join(FILES.values())}, .gz or not) in a folder and pass "
        "--data_dir FOLDER (or set NBNET_DATA_DIR)",
        f"copy them into the Keras cache in Keras's layout ({keras_layout})",
    ]
    if name == "fashion_mnist":
        ways.append("install Debian's package: apt-get install dataset-fashion-mnist")
    ways.append('go online with Keras installed (pip install -e ".[keras]") and nbnet downloads it')
    searched = f" (looked in {data_dir})" if data_dir else ""
    return f"{name} not found{searched}. Ways to get it:\n  - " + "\n  - ".join(ways)


def _download(name, data_dir, include_test):
    """Fetch through ``keras.datasets``; a DataError that lists the alternatives on failure."""
    if not _host_reachable(DOWNLOAD_HOST):
        raise DataError(
            _how_to_get(name, data_dir) + "\n(no network: the download host is unreachable)"
        )
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    try:
        from keras import datasets  # lazy: only a download needs Keras
    except ImportError:
        raise DataError(_how_to_get(name, data_dir) + "\n(Keras is not installed)") from None
    try:
        (x_train, y_train), (x_test, y_test) = getattr(datasets, name).load_data()
    except Exception as exc:  # network errors come in many types
        raise DataError(_how_to_get(name, data_dir) + f"\n(download failed: {exc})") from None
    arrays = dict(x_train=x_train, y_train=y_train)
    if include_test:
        arrays.update(x_test=x_test, y_test=y_test)
    return _validate(name, arrays, f"keras.datasets.{name} (cached in {keras_cache()})")


def load_dataset(name, data_dir=None, download=True, include_test=True, strict=False):
    """Load ``name`` from the first place that has it (see the module docstring).

    With ``include_test=False`` the test files are neither opened nor required
    (sweeps select models without ever touching the test set); ``x_test`` and
    ``y_test`` are then None. The files' digests are checked against the published
    ones (:func:`check_identity`; ``strict`` refuses the other dataset's files).

    Raises
    ------
    DataError
        A file is corrupt or mismatched (names the file), the files are the other
        dataset's and ``strict`` is set, or the data is nowhere and cannot be
        downloaded (lists the ways to get it).
    """
    return check_identity(_find(name, data_dir, download, include_test), strict)


def _find(name, data_dir, download, include_test):
    name = canonical_name(name)
    if data_dir and not Path(data_dir).expanduser().is_dir():
        if Path(data_dir).expanduser().exists():
            raise DataError(
                f"--data_dir {data_dir}: a file, not a folder; give the folder that holds "
                "the four IDX files"
            )
        raise DataError(f"--data_dir {data_dir}: no such folder")
    for folder, label in candidate_folders(name, data_dir):
        dataset = _load_folder(name, folder, label, include_test)
        if dataset is not None:
            return dataset
    npz_places = [keras_cache() / "mnist.npz"] if name == "mnist" else []
    if data_dir:
        npz_places = [Path(data_dir).expanduser() / "mnist.npz"] if name == "mnist" else []
    for path in npz_places:
        if path.is_file():
            return _load_npz(name, path, str(path), include_test)
    if data_dir:
        inside = " or ".join(["it", *(f"{sub}/" for sub in SUBFOLDERS[name])])
        npz = ", or mnist.npz" if name == "mnist" else ""
        raise DataError(
            f"--data_dir {data_dir}: no {name} files in it (the four IDX files, .gz or not, in "
            f"{inside}{npz}); fix the path, or leave --data_dir out to look in the other places"
        )
    if not download:
        raise DataError(_how_to_get(name, data_dir))
    return _download(name, data_dir, include_test)
