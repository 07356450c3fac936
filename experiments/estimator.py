"""``MLPClassifier``: nbnet's compiled training loop behind scikit-learn's estimator interface.

A thin layer: the parameters become a :class:`experiments.config.RunConfig`, the network
is :class:`network.MLP`, and training is :func:`experiments.training.train`, the loop that
``train.py`` runs, on any array of features (not only images). The estimator adds what
scikit-learn's conventions ask for and nothing else: input checks (``validate_data``),
label encoding (any labels: strings, non-contiguous integers), the stopping rule of
scikit-learn's own ``MLPClassifier`` (``tol`` and ``n_iter_no_change``), and continued
training (``warm_start``, ``partial_fit``), which resumes the loop from an in-memory
checkpoint: the optimizer's moments, the shuffler and the history carry on exactly as in
one uninterrupted run.

It lives here rather than in ``network/`` because it drives the training loop of this
package, and data flows one way (``experiments`` -> ``network``); ``nbnet.MLPClassifier``
is the short name to import.

Where a parameter means the same as in :class:`sklearn.neural_network.MLPClassifier`, it
has the same name and default; the differences are written beside each one in the class
docstring.

Over 400 lines because scikit-learn's interface is wide: about 25 parameters and fitted
attributes, each documented with how it differs, and the checks its conformance suite asks for.
"""

import math
import numbers
import warnings
from contextlib import nullcontext

import numpy as np

from kernels.config import JIT

from .config import ConfigError, RunConfig
from .memory import check_fits
from .training import Callback, Callbacks, Diverged, History, build_network, train

#: RunConfig's names of the settings -> this estimator's, for its error messages.
PARAMETER_NAMES = {
    "optimizer": "solver",
    "learning_rate": "learning_rate_init",
    "weight_decay": "alpha",
    "epochs": "max_iter",
    "beta1": "beta_1",
    "beta2": "beta_2",
    "seed": "random_state",
    "hidden_sizes": "hidden_layer_sizes",
}
#: Parameters that must be finite numbers (NaN and infinity pass every range check).
FINITE = (
    "alpha", "learning_rate_init", "momentum", "beta_1", "beta_2", "epsilon",
    "validation_fraction", "dropout", "ema",
)  # fmt: skip

#: scikit-learn's activation names -> nbnet's.
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "ReLU"}

try:  # scikit-learn is an optional dependency: pip install -e ".[sklearn]"
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    _MISSING = exc

    class BaseEstimator:  # noqa: D101 - a stand-in that explains itself on use
        def __init__(self, *args, **kwargs):
            raise ImportError(
                f'MLPClassifier needs scikit-learn: pip install -e ".[sklearn]" ({_MISSING})'
            )

    ClassifierMixin = object


class _Converged(Exception):
    """Raised by the stopping rule to end :func:`train` after an epoch."""


class _MemoryCheckpoints:
    """The run's last checkpoint, held in memory (the interface of
    :class:`experiments.checkpoint.CheckpointFile`): continued training resumes from it.

    It keeps the loop's own arrays, not copies: when :func:`train` returns they hold the
    final state, which is all that continued training needs.
    """

    def __init__(self):
        self.checkpoint = None

    def load(self):
        return self.checkpoint

    def save(self, checkpoint):
        self.checkpoint = checkpoint


class _StoppingRule(Callback):
    """scikit-learn's rule: stop after ``n_iter_no_change`` epochs in a row whose training
    loss (or validation accuracy, with early stopping) did not improve by ``tol``."""

    def __init__(self, estimator):
        self.estimator = estimator

    def on_epoch_end(self, metrics):
        est = self.estimator
        if est._stop_on_validation:
            score = metrics["val_accuracy"]
            improved = score > est.best_validation_score_ + est.tol
            est.best_validation_score_ = max(est.best_validation_score_, score)
        else:
            loss = metrics["train_loss"]
            improved = loss < est.best_loss_ - est.tol
            est.best_loss_ = min(est.best_loss_, loss)
        est._no_improvement_count = 0 if improved else est._no_improvement_count + 1
        if est._no_improvement_count >= est.n_iter_no_change:
            raise _Converged


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """A multilayer perceptron classifier trained by nbnet's compiled loop.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        Width of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default "relu"
    solver : {"sgd", "momentum", "nag", "rmsprop", "adam", "nadam", "eve"}, default "adam"
        nbnet's optimizers (``optimizers/``). Unlike scikit-learn's "sgd", nbnet's "sgd" is
        plain gradient descent; "momentum" and "nag" are its two momentum forms.
    alpha : float, default 0.0001
        L2 penalty, as scikit-learn scales it: the gradient gains ``alpha * W / batch``
        (nbnet's ``weight_decay = alpha / batch_size``).
    batch_size : int or "auto", default "auto"
        "auto" is ``min(200, n_samples)``; larger than the data means all of it.
    learning_rate_init : float, default 0.001
    max_iter : int, default 200
        Epochs (each sample seen once per epoch).
    shuffle : bool, default True
    random_state : int, RandomState or None, default None
        Seeds the initial weights, the shuffling, dropout and the validation split.
    tol : float, default 1e-4
    verbose : bool, default False
        Shows train.py's progress bar and one line per epoch.
    warm_start : bool, default False
        ``fit`` goes on from the previous fit for another ``max_iter`` epochs, with the
        optimizer's state, the shuffler and the curves carried on.
    momentum : float, default 0.9
        For "momentum" and "nag".
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data (stratified) and stop when its
        accuracy has not improved by ``tol`` for ``n_iter_no_change`` epochs; the best
        epoch's weights are kept.
    validation_fraction : float, default 0.1
    beta_1, beta_2, epsilon : float, default 0.9, 0.999, 1e-8
        Adam, Nadam and Eve's moment decays and epsilon (also RMSprop's epsilon).
    n_iter_no_change : int, default 10
    weight_init : {"random", "Xavier", "He"}, default "Xavier"
    dropout : float, default 0.0
        Inverted dropout on the hidden units while training.
    ema : float, default 0.0
        Decay of a moving average of the parameters, which the model then uses (0: off).
    device : {"cpu", "cuda", "auto"}, default "cpu"
    threads : int, default 0
        BLAS threads; 0 lets nbnet's policy choose (experiments/threads.py).

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names (a pandas DataFrame).
    coefs_, intercepts_ : list of ndarray
        ``coefs_[l]`` (n_in, n_out) and ``intercepts_[l]`` (n_out,) are views into the one
        flat parameter buffer of ``network_`` (writing them changes the model), also after
        unpickling.
    network_ : network.MLP
        The trained network (save it with ``network_.save(path)``).
    loss_curve_ : list of float
        Mean training loss of each epoch.
    validation_scores_ : list of float or None
        Validation accuracy of each epoch, with early stopping.
    best_validation_score_ : float or None
    best_loss_ : float or None
        Lowest training loss, without early stopping.
    n_iter_ : int
        Epochs trained.
    t_ : int
        Training samples seen (``n_iter_ * n_samples``).
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
        "softmax".
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        weight_init="Xavier",
        dropout=0.0,
        ema=0.0,
        device="cpu",
        threads=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.weight_init = weight_init
        self.dropout = dropout
        self.ema = ema
        self.device = device
        self.threads = threads

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y):
        """Train on ``X`` (n_samples, n_features) and labels ``y`` (n_samples,); returns self."""
        reset = not (self.warm_start and hasattr(self, "classes_"))
        X, y = self._check_data(X, y, reset=reset)
        if reset:
            self._set_classes(np.unique(y))
        return self._fit(X, y, self.max_iter, first_call=reset, stop=True)

    def partial_fit(self, X, y, classes=None):
        """One more epoch over ``X`` and ``y``; ``classes`` (every label) on the first call."""
        first_call = not hasattr(self, "classes_")
        X, y = self._check_data(X, y, reset=first_call)
        if first_call:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._set_classes(np.unique(column_or_1d(classes)))
        return self._fit(X, y, 1, first_call=first_call, stop=False)

    def _check_data(self, X, y, reset):
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=(np.float32, np.float64),
            order="C",
            ensure_min_samples=1,
            ensure_all_finite=False,  # checked below, compiled: 3x faster on 63 MB
        )
        _refuse_non_finite(X)
        check_classification_targets(y)
        return X, column_or_1d(y, warn=True)

    def _set_classes(self, classes):
        if len(classes) < 2:
            raise ValueError(
                f"MLPClassifier needs at least 2 classes in y; it has 1 class: {classes[0]!r}"
            )
        self.classes_ = classes

    def _encode(self, y):
        codes = np.searchsorted(self.classes_, y)
        codes = np.minimum(codes, len(self.classes_) - 1)
        unknown = self.classes_[codes] != y
        if np.any(unknown):
            strangers = list(np.unique(y[unknown]))
            raise ValueError(f"y holds labels not in classes_ {list(self.classes_)}: {strangers}")
        return codes.astype(np.int64)

    def _config(self, n_samples, epochs):
        """The RunConfig of these parameters for ``n_samples`` training rows."""
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; choose from {', '.join(ACTIVATIONS)}"
            )
        batch = self.batch_size
        if batch == "auto":
            batch = min(200, n_samples)
        elif not isinstance(batch, numbers.Integral) or batch < 1:
            raise ValueError(f"batch_size must be 'auto' or an integer >= 1, not {batch!r}")
        batch = int(min(batch, n_samples))
        widths = self.hidden_layer_sizes
        widths = [widths] if isinstance(widths, numbers.Integral) else list(widths)
        for name in ("max_iter", "n_iter_no_change"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
        if not (isinstance(self.tol, numbers.Real) and math.isfinite(self.tol) and self.tol >= 0):
            raise ValueError(f"tol must be a finite number >= 0, not {self.tol!r}")
        for name in FINITE:
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, not {value!r}")
        try:
            return self._run_config(widths, batch, epochs)
        except ConfigError as exc:  # in this estimator's names
            field, _, rest = str(exc).partition(":")
            raise ValueError(f"{PARAMETER_NAMES.get(field, field)}:{rest}") from None

    def _run_config(self, widths, batch, epochs):
        return RunConfig(
            hidden_sizes=tuple(int(w) for w in widths) or None,
            num_layers=len(widths),
            activation=ACTIVATIONS[self.activation],
            optimizer=self.solver,
            learning_rate=float(self.learning_rate_init),
            weight_decay=float(self.alpha) / batch,
            batch_size=batch,
            epochs=epochs,
            momentum=float(self.momentum),
            beta1=float(self.beta_1),
            beta2=float(self.beta_2),
            epsilon=float(self.epsilon),
            weight_init=self.weight_init,
            dropout=float(self.dropout),
            ema=float(self.ema),
            device=self.device,
            threads=int(self.threads),
            seed=self._seed,
            restore_best=bool(self.early_stopping),
            wandb_mode="disabled",
            quiet=not self.verbose,
        )

    def _split(self, X, y):
        """Training and validation rows: a stratified hold-out with early stopping."""
        if not self._stop_on_validation:
            return X, y, X[:0], y[:0]
        stratify = y if np.bincount(y).min() >= 2 else None
        x_train, x_val, y_train, y_val = train_test_split(
            X, y, test_size=self.validation_fraction, random_state=self._seed, stratify=stratify
        )
        return x_train, y_train, x_val, y_val

    def _fit(self, X, y, epochs, first_call, stop):
        codes = self._encode(y)
        if first_call:
            self._seed = _seed_of(self.random_state)
            self._checkpoints = _MemoryCheckpoints()
            self.best_loss_, self.best_validation_score_ = math.inf, -math.inf
            self._no_improvement_count = 0
            self.network_ = None
        self._stop_on_validation = stop and bool(self.early_stopping)
        x = np.ascontiguousarray(X, dtype=np.float32)
        x_train, y_train, x_val, y_val = self._split(x, codes)
        done = 0 if first_call else self.n_iter_
        config = self._config(len(x_train), done + epochs)
        if self.network_ is None:
            # a MemoryError that says why, before NumPy's or the system's own
            check_fits(
                config, x.shape[1], len(self.classes_), advice="use smaller hidden_layer_sizes"
            )
            self.network_ = build_network(config, x.shape[1], len(self.classes_))
        history = History()
        callback = Callback()
        if self.verbose:
            from .app.progress import RichProgress, make_console

            callback = RichProgress(make_console(), config.epochs)
        rule = Callbacks(callback, _StoppingRule(self)) if stop else callback
        converged = False
        with callback if self.verbose else nullcontext():
            try:
                train(
                    self.network_,
                    config,
                    x_train,
                    y_train,
                    x_val,
                    y_val,
                    callback=rule,
                    history=history,
                    checkpoints=self._checkpoints,
                    shuffle=bool(self.shuffle),
                )
            except _Converged:
                converged = True
            except Diverged as exc:
                raise ValueError(
                    f"training diverged ({exc}); try a smaller learning_rate_init or "
                    "scaled features (StandardScaler)"
                ) from None
        self._record(history, len(x_train))
        if stop and not converged:
            warnings.warn(
                f"MLPClassifier: {config.epochs - done} epochs (max_iter) ended before the "
                "loss stopped improving; raise max_iter for a converged model.",
                ConvergenceWarning,
            )
        return self

    def _record(self, history, n_samples):
        """scikit-learn's fitted attributes from the run's history."""
        self._history = history  # timings: perf/estimator.py reads them
        epochs = history.epochs
        net = self.network_
        self.n_iter_ = len(epochs)
        self.t_ = self.n_iter_ * n_samples
        self.loss_curve_ = [m["train_loss"] for m in epochs]
        if self._stop_on_validation:
            self.validation_scores_ = [m["val_accuracy"] for m in epochs]
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_)
        self.n_layers_ = len(net.sizes)
        self.n_outputs_ = net.sizes[-1]
        self.out_activation_ = "softmax"
        self._views()

    def _views(self):
        net = self.network_
        self.coefs_ = [net.weights(layer) for layer in range(len(net.sizes) - 1)]
        self.intercepts_ = [net.biases(layer) for layer in range(len(net.sizes) - 1)]

    # --------------------------------------------------------------- predicting
    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, dtype=(np.float32, np.float64), order="C",
            ensure_all_finite=False,
        )  # fmt: skip
        _refuse_non_finite(X)
        return self.network_.predict_proba(X).astype(np.float64)

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each row, shape (n_samples,)."""
        proba = self.predict_proba(X)  # first: it says "not fitted" before fit
        return self.classes_[proba.argmax(axis=1)]

    # ---------------------------------------------------------------- scikit-learn
    def __setstate__(self, state):
        super().__setstate__(state)
        if self.__sklearn_is_fitted__():
            self._views()  # pickling turned the views into copies

    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_") and self.network_ is not None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.classifier_tags.multi_label = False
        return tags


@JIT
def _sum_times_zero(flat):
    """``sum(x * 0)``: 0 when every value is finite, NaN otherwise (a vectorised pass)."""
    total = flat.dtype.type(0)
    for k in range(flat.shape[0]):
        total += flat[k] * flat.dtype.type(0)
    return total


def _refuse_non_finite(X):
    """scikit-learn's check (``Input X contains NaN or infinity``), in one compiled pass
    instead of NumPy's pairwise sum: a fixed cost of every fit, 10 ms on 63 MB."""
    if X.size and not math.isfinite(_sum_times_zero(X.reshape(-1))):
        raise ValueError("Input X contains NaN or infinity.")


def _seed_of(random_state):
    """An int seed for nbnet's generators from scikit-learn's ``random_state``."""
    if random_state is None:
        return int(np.random.randint(0, 2**31 - 1))
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    raise ValueError(f"random_state must be None, an int or a RandomState, not {random_state!r}")
