"""Finding, reading and validating the data; the stratified split."""

import gzip

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from experiments.data import FILES, DataError, load_dataset, read_idx, stratified_split
from experiments.data import sources as data
from tests.conftest import shared_dataset
from tests.synthetic import write_dataset


@pytest.fixture(autouse=True)
def no_outside_data(tmp_path, monkeypatch):
    """Point every default location at empty folders, and forbid downloads."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("NBNET_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "DEBIAN_FOLDERS", {"fashion_mnist": tmp_path / "debian"})
    monkeypatch.setattr(data, "_host_reachable", lambda host, timeout=3.0: False)


@pytest.mark.parametrize("gz", [True, False])
def test_loads_a_folder_of_idx_files(tmp_path, gz):
    written = write_dataset(tmp_path / "d", gz=gz)
    ds = load_dataset("fashion-mnist", tmp_path / "d")
    assert ds.name == "fashion_mnist"
    np.testing.assert_array_equal(ds.x_train, written["x_train"])
    np.testing.assert_array_equal(ds.y_test, written["y_test"])
    assert ds.y_train.dtype == np.int64 and ds.n_features == 784
    assert ds.class_names[9] == "Ankle boot"


def test_finds_a_dataset_subfolder_and_the_environment_variable(tmp_path, monkeypatch):
    write_dataset(tmp_path / "d" / "mnist")
    monkeypatch.setenv("NBNET_DATA_DIR", str(tmp_path / "d"))
    assert load_dataset("mnist").source.endswith("mnist")


def test_a_data_dir_without_the_files_is_refused_not_passed_over(tmp_path):
    """A --data_dir is where the user said the data is: when it lacks the files, the error
    names it, even though the Keras cache holds the dataset (it used those files in silence);
    without --data_dir the Keras cache is used."""
    write_dataset(tmp_path / "keras_home" / "datasets" / "fashion-mnist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no fashion_mnist files in it") as err:
        load_dataset("fashion_mnist", tmp_path / "empty")
    assert "--data_dir " + str(tmp_path / "empty") in str(err.value)
    assert "leave --data_dir out" in str(err.value)
    assert "Keras cache" in load_dataset("fashion_mnist").source
    with pytest.raises(DataError, match=r"in it or mnist/, or mnist.npz"):
        load_dataset("mnist", tmp_path / "empty")


def test_keras_cache_layouts(tmp_path):
    write_dataset(tmp_path / "keras_home" / "datasets" / "fashion-mnist")
    assert "Keras cache" in load_dataset("fashion_mnist").source
    arrays = write_dataset(tmp_path / "scratch")
    np.savez(tmp_path / "keras_home" / "datasets" / "mnist.npz", **arrays)
    ds = load_dataset("mnist")
    np.testing.assert_array_equal(ds.x_train, arrays["x_train"])


def test_debian_package_folder(tmp_path):
    write_dataset(tmp_path / "debian")
    assert "Debian" in load_dataset("fashion_mnist").source


def test_missing_data_offline_lists_the_ways_quickly(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("fashion_mnist")
    message = str(err.value)
    for hint in ("--data_dir", "Keras cache", "dataset-fashion-mnist", "no network"):
        assert hint in message


def test_missing_data_dir_is_named(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_dataset("mnist", tmp_path / "nope")


def test_a_file_given_as_data_dir_is_named(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DataError, match="a file, not a folder; give the folder that holds"):
        load_dataset("mnist", tmp_path / "train-images-idx3-ubyte.gz")


def test_truncated_file_is_named(tmp_path):
    write_dataset(tmp_path / "d", gz=False)
    path = tmp_path / "d" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte: header says .* truncated"):
        load_dataset("mnist", tmp_path / "d")


def test_corrupt_gzip_is_named(tmp_path):
    write_dataset(tmp_path / "d")
    path = tmp_path / "d" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20] + b"garbage" * 10)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: cannot be read"):
        load_dataset("mnist", tmp_path / "d")


def test_wrong_magic_number_is_named(tmp_path):
    write_dataset(tmp_path / "d", gz=False)
    path = tmp_path / "d" / "train-labels-idx1-ubyte"
    raw = bytearray(path.read_bytes())
    raw[3] = 3
    path.write_bytes(bytes(raw))
    with pytest.raises(
        DataError, match=r"train-labels-idx1-ubyte: not a 1-D .*magic number 00000803"
    ):
        load_dataset("mnist", tmp_path / "d")


def test_mismatched_files_and_bad_labels(tmp_path):
    write_dataset(tmp_path / "a", n_train=600)
    write_dataset(tmp_path / "b", n_train=500)
    (tmp_path / "a" / "train-labels-idx1-ubyte.gz").write_bytes(
        (tmp_path / "b" / "train-labels-idx1-ubyte.gz").read_bytes()
    )
    with pytest.raises(DataError, match="600 train images but 500 labels"):
        load_dataset("mnist", tmp_path / "a")
    write_dataset(tmp_path / "c")
    with gzip.open(tmp_path / "c" / "t10k-labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(bytes([0, 0, 8, 1, 0, 0, 0, 100]) + bytes([12] * 100))
    with pytest.raises(DataError, match="test labels reach 12"):
        load_dataset("mnist", tmp_path / "c")


def test_files_with_no_images_are_a_clear_error(tmp_path):
    """0-sample IDX files used to end in a traceback from the stratified split."""
    from experiments.data import FILES, write_idx

    folder = tmp_path / "zero"
    folder.mkdir()
    for key, shape in (
        ("x_train", (0, 28, 28)),
        ("y_train", (0,)),
        ("x_test", (0, 28, 28)),
        ("y_test", (0,)),
    ):
        write_idx(folder / (FILES[key] + ".gz"), np.zeros(shape, np.uint8))
    with pytest.raises(DataError, match="train files hold no images"):
        load_dataset("mnist", folder)


def test_incomplete_folder(tmp_path):
    write_dataset(tmp_path / "d")
    (tmp_path / "d" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path / "d")


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="choose from fashion_mnist, mnist"):
        load_dataset("cifar10")


@given(
    counts=st.lists(st.integers(1, 60), min_size=2, max_size=10),
    fraction=st.sampled_from([0.1, 0.25, 0.5]),
    seed=st.integers(0, 1000),
)
def test_split_is_disjoint_stratified_and_reproducible(counts, fraction, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(labels)
    split = stratified_split(labels, fraction, seed)
    assert np.intersect1d(split.train, split.val).size == 0
    np.testing.assert_array_equal(
        np.sort(np.concatenate([split.train, split.val])), np.arange(labels.size)
    )
    for cls, count in enumerate(counts):
        assert np.sum(labels[split.val] == cls) == int(round(fraction * count))
    again = stratified_split(labels, fraction, seed)
    np.testing.assert_array_equal(again.val, split.val)


def test_split_depends_on_the_seed():
    labels = np.repeat(np.arange(10), 100)
    assert not np.array_equal(
        stratified_split(labels, 0.1, 0).val, stratified_split(labels, 0.1, 1).val
    )


def test_real_fashion_mnist_split_keeps_the_test_set_apart():
    folder = shared_dataset("fashion-mnist")
    ds = load_dataset("fashion_mnist", folder)
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert np.all(np.bincount(ds.y_train) == 6000)
    split = stratified_split(ds.y_train, 0.1, 0)
    assert split.val.size == 6000 and np.all(np.bincount(ds.y_train[split.val]) == 600)


def test_real_mnist_label_counts():
    ds = load_dataset("mnist", shared_dataset("mnist"))
    assert np.bincount(ds.y_test).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    assert read_idx(shared_dataset("mnist") / "t10k-labels-idx1-ubyte.gz", 1).shape == (10000,)


def test_download_goes_through_keras_only_when_needed(tmp_path, monkeypatch):
    import sys
    import types

    arrays = write_dataset(tmp_path / "scratch")
    calls = []

    def load_data():
        calls.append("load_data")
        return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])

    fake = types.SimpleNamespace(
        datasets=types.SimpleNamespace(fashion_mnist=types.SimpleNamespace(load_data=load_data))
    )
    monkeypatch.setitem(sys.modules, "keras", fake)
    monkeypatch.setattr(data, "_host_reachable", lambda host, timeout=3.0: True)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    ds = load_dataset("fashion_mnist")
    assert calls == ["load_data"] and ds.source.startswith("keras.datasets.fashion_mnist")
    assert data.os.environ["KERAS_BACKEND"] == "numpy"
    write_dataset(tmp_path / "d")
    load_dataset("fashion_mnist", tmp_path / "d")
    assert calls == ["load_data"], "files on disk must not trigger a download"


def test_keras_missing_online_lists_the_ways(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "keras", None)  # makes `import keras` fail
    monkeypatch.setattr(data, "_host_reachable", lambda host, timeout=3.0: True)
    with pytest.raises(DataError, match="Keras is not installed"):
        load_dataset("mnist")


def test_train_only_loading_never_opens_the_test_files(tmp_path):
    write_dataset(tmp_path / "d")
    for stem in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "d" / stem).write_bytes(b"unreadable")
    ds = load_dataset("mnist", tmp_path / "d", include_test=False)
    assert ds.x_test is None and ds.x_train.shape == (600, 28, 28)
    with pytest.raises(DataError):
        load_dataset("mnist", tmp_path / "d")


# ------------------------------------------------------------------ dataset identity
@pytest.mark.parametrize("name", ["fashion_mnist", "mnist"])
def test_the_real_files_are_recognised_by_their_published_digests(name):
    from experiments.data.identity import PUBLISHED

    ds = load_dataset(name, shared_dataset(name.replace("_", "-")))
    assert ds.digests == PUBLISHED[name] and ds.verified
    assert ds.warning is None and ds.note is None


def test_an_uncompressed_copy_has_the_same_identity(tmp_path):
    """Digests are of the content: a gunzipped (or recompressed) copy is the same dataset."""
    folder = shared_dataset("mnist")
    for path in folder.glob("*.gz"):
        (tmp_path / path.stem).write_bytes(gzip.decompress(path.read_bytes()))
    assert load_dataset("mnist", tmp_path).verified


def test_the_other_datasets_files_warn_or_are_refused_with_strict():
    fashion = shared_dataset("fashion-mnist")
    ds = load_dataset("mnist", fashion, include_test=False)
    assert "holds fashion_mnist's published files, not mnist's; pass -d fashion_mnist" in (
        ds.warning
    )
    assert not ds.verified
    with pytest.raises(DataError, match="refused: --strict_data"):
        load_dataset("mnist", fashion, include_test=False, strict=True)


def test_a_folder_mixing_the_two_datasets_says_so_instead_of_advising_a_dataset(tmp_path):
    """Fashion-MNIST's images with MNIST's labels: neither -d fits, so no -d is advised."""
    fashion, mnist = shared_dataset("fashion-mnist"), shared_dataset("mnist")
    for key, stem in FILES.items():
        source = fashion if key.startswith("x") else mnist
        (tmp_path / f"{stem}.gz").write_bytes((source / f"{stem}.gz").read_bytes())
    ds = load_dataset("fashion_mnist", tmp_path, include_test=False)
    assert "mixes datasets: train-labels-idx1-ubyte is mnist's published file," in ds.warning
    assert "put one dataset's files in one folder" in ds.warning and "pass -d" not in ds.warning


def test_a_users_own_files_load_with_a_note(tmp_path):
    write_dataset(tmp_path / "d")
    ds = load_dataset("mnist", tmp_path / "d", strict=True)
    assert not ds.verified and ds.warning is None
    assert "not the published mnist files" in ds.note
    assert set(ds.record()["digests"]) == {"x_train", "y_train", "x_test", "y_test"}
