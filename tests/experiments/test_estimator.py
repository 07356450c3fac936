"""The scikit-learn estimator: scikit-learn's own conformance checks, its tools, and nbnet's loop.

``parametrize_with_checks`` runs every check scikit-learn's maintainers wrote for a
classifier; the rest shows the estimator in the places people put one (Pipeline,
GridSearchCV with two jobs, cross_val_score, clone, pickle and joblib) and that it trains
exactly what train.py's loop trains for the same settings.
"""

import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from scipy import sparse  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from experiments.config import RunConfig  # noqa: E402
from experiments.estimator import MLPClassifier  # noqa: E402
from experiments.training import build_network, train  # noqa: E402


@parametrize_with_checks([MLPClassifier(hidden_layer_sizes=(32,), random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(
        n_samples=400, n_features=12, n_informative=6, n_classes=3, random_state=0
    )
    return X, y


def small(**kwargs):
    settings = dict(hidden_layer_sizes=(16,), max_iter=60, batch_size=32, random_state=0)
    return MLPClassifier(**{**settings, **kwargs})


def test_importable_as_nbnet_mlpclassifier():
    import nbnet

    assert nbnet.MLPClassifier is MLPClassifier


def test_any_labels_and_the_fitted_attributes(blobs):
    X, y = blobs
    names = np.array(["cat", "dog", "eel"])[y]
    model = small().fit(X, names)
    assert list(model.classes_) == ["cat", "dog", "eel"]
    assert set(model.predict(X)) <= set(names)
    assert model.score(X, names) > 0.75
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert model.n_features_in_ == 12 and model.n_iter_ == len(model.loss_curve_)
    assert model.t_ == model.n_iter_ * len(X)
    assert [c.shape for c in model.coefs_] == [(12, 16), (16, 3)]
    # coefs_ are views of the trained network's one flat buffer
    assert np.shares_memory(model.coefs_[0], model.network_.params)
    model_ints = small().fit(X, np.array([3, 10, 42])[y])
    assert list(model_ints.classes_) == [3, 10, 42]


def test_clear_errors_for_nan_one_class_and_wrong_shapes(blobs):
    X, y = blobs
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        small().fit(bad, y)
    with pytest.raises(ValueError, match="needs at least 2 classes in y"):
        small().fit(X, np.zeros(len(X)))
    model = small().fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but MLPClassifier is expecting 12"):
        model.predict(X[:, :5])
    with pytest.raises(ValueError, match="solver: invalid choice: 'lbfgs'"):
        small(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        small(alpha=float("nan")).fit(X, y)
    with pytest.raises(ValueError, match="try a smaller learning_rate_init"):
        small(solver="sgd", learning_rate_init=1e9).fit(X * 1e6, y)
    with pytest.raises(TypeError, match="dense data is required"):
        small().fit(sparse.csr_matrix(X), y)
    with pytest.raises(MemoryError, match="GiB: use smaller hidden_layer_sizes"):
        small(hidden_layer_sizes=(3_000_000, 3_000_000)).fit(X, y)


def test_pipeline_gridsearch_with_two_jobs_and_cross_val_score(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), small())
    assert pipe.fit(X, y).score(X, y) > 0.75
    search = GridSearchCV(
        small(), {"learning_rate_init": [1e-3, 1e-2], "solver": ["adam", "nadam"]}, cv=2, n_jobs=2
    )
    search.fit(X, y)
    assert search.best_score_ > 0.6
    scores = cross_val_score(small(), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.6


def test_clone_pickle_and_joblib_predict_the_same(blobs, tmp_path):
    X, y = blobs
    model = small().fit(X, y)
    assert clone(model).get_params() == model.get_params()
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert np.shares_memory(again.coefs_[-1], again.network_.params)
    import joblib

    joblib.dump(model, tmp_path / "model.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "model.joblib").predict_proba(X), model.predict_proba(X)
    )


def test_warm_start_and_partial_fit_continue_one_run(blobs):
    """Two fits of 10 epochs with warm_start end where one fit of 20 does, bit for bit: the
    optimizer's moments and the shuffler carry on."""
    X, y = blobs
    whole = MLPClassifier(
        hidden_layer_sizes=(8,), max_iter=20, n_iter_no_change=10_000, random_state=3
    )
    whole.fit(X, y)
    halves = MLPClassifier(
        hidden_layer_sizes=(8,),
        max_iter=10,
        n_iter_no_change=10_000,
        random_state=3,
        warm_start=True,
    )
    halves.fit(X, y).fit(X, y)
    assert halves.n_iter_ == 20
    np.testing.assert_array_equal(halves.network_.params, whole.network_.params)
    assert halves.loss_curve_ == whole.loss_curve_
    stepwise = MLPClassifier(hidden_layer_sizes=(8,), random_state=3, n_iter_no_change=10_000)
    for _ in range(20):
        stepwise.partial_fit(X, y, classes=np.unique(y))
    np.testing.assert_array_equal(stepwise.network_.params, whole.network_.params)


def test_the_same_model_as_train_py_loop_for_matching_settings(blobs):
    X, y = blobs
    model = MLPClassifier(
        hidden_layer_sizes=(16, 8),
        activation="tanh",
        solver="nadam",
        alpha=0.0032,
        batch_size=32,
        max_iter=5,
        n_iter_no_change=10_000,
        random_state=7,
    ).fit(X, y)
    config = RunConfig(
        hidden_sizes=(16, 8),
        num_layers=2,
        activation="tanh",
        optimizer="nadam",
        learning_rate=1e-3,
        weight_decay=0.0032 / 32,
        batch_size=32,
        epochs=5,
        seed=7,
        wandb_mode="disabled",
        quiet=True,
    )
    x = X.astype(np.float32)
    net = build_network(config, x.shape[1], 3)
    train(net, config, x, y.astype(np.int64), x[:0], y[:0].astype(np.int64))
    np.testing.assert_array_equal(model.network_.params, net.params)


def test_early_stopping_keeps_the_best_epoch(blobs):
    X, y = blobs
    model = small(early_stopping=True, n_iter_no_change=3, max_iter=200).fit(X, y)
    assert model.validation_scores_ is not None and model.best_loss_ is None
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.n_iter_ < 200
