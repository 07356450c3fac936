"""Read and check a W&B sweep YAML file before anything runs.

The accepted subset of W&B's sweep configuration:

* ``method``: ``grid``, ``random`` or ``bayes``;
* ``metric``: ``{name: val_accuracy, goal: maximize}`` (validation accuracy is
  the only objective nbnet optimises; the test set is never read in a sweep);
* ``parameters``: each key a ``train.py`` option (long name without dashes),
  each value one of ``{value: x}``, ``{values: [...]}`` or
  ``{distribution: uniform | log_uniform_values | int_uniform | q_uniform, min: a, max: b}``
  (``q`` for ``q_uniform``); every value is checked by the same function as
  ``train.py``'s flags (:func:`experiments.config.check_value`);
* ``early_terminate``: ``{type: hyperband, min_iter: n, eta: k}`` (optional);
* ``run_cap``: an upper bound on the number of trials (optional);
* ``name``, ``description``, ``program``, ``command``, ``project``, ``entity``:
  accepted and passed to W&B, not used offline.

Anything else, or a malformed value, is a one-line :class:`SweepSpecError`.
"""

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..config.schema import SETTINGS, SWEEPABLE, ConfigError, check_value, is_whole

METHODS = ("grid", "random", "bayes")
DISTRIBUTIONS = ("uniform", "log_uniform_values", "int_uniform", "q_uniform")
OBJECTIVE = "val_accuracy"
TOP_LEVEL = {
    "method",
    "metric",
    "parameters",
    "early_terminate",
    "run_cap",
    "name",
    "description",
    "program",
    "command",
    "project",
    "entity",
}


class SweepSpecError(ValueError):
    """The sweep file is malformed; the message names the file and the problem."""


@dataclass
class Parameter:
    name: str
    values: list | None = None  # categorical (a single ``value`` is a one-element list)
    distribution: str | None = None
    low: float | None = None
    high: float | None = None
    q: float | None = None

    @property
    def is_categorical(self):
        return self.values is not None


@dataclass
class SweepSpec:
    method: str
    parameters: dict
    path: str = "<sweep>"
    name: str | None = None
    run_cap: int | None = None
    hyperband: dict | None = None
    raw: dict = field(default_factory=dict)

    def grid_size(self):
        size = 1
        for p in self.parameters.values():
            size *= len(p.values)
        return size

    def grid(self):
        """Every combination of a grid sweep, as dicts, in a fixed order."""
        names = list(self.parameters)
        for combo in itertools.product(*(self.parameters[n].values for n in names)):
            yield dict(zip(names, combo))

    @property
    def max_epochs(self):
        epochs = self.parameters.get("epochs")
        if epochs is None:
            return None
        return int(max(epochs.values) if epochs.is_categorical else epochs.high)


def _check_value(path, name, value):
    """``value`` checked and normalised as train.py checks its flag (a one-line error if not)."""
    try:
        value = check_value(name, value)
    except ConfigError as exc:
        raise SweepSpecError(f"{path}: parameter {exc}") from None
    return list(value) if isinstance(value, tuple) else value


def _needs_validation(path, body):
    """A sweep maximises validation accuracy, so every trial needs validation data: with
    ``val_fraction`` 0 each trial's metric was NaN, failed, and was queued again forever."""
    values = body.get("values")
    candidates = [body.get("value"), body.get("min"), *(values if isinstance(values, list) else [])]
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) and v <= 0 for v in candidates):
        raise SweepSpecError(
            f"{path}: parameter val_fraction: a sweep maximises validation accuracy, so it "
            "must be > 0 (0 holds no validation data)"
        )


def _parameter(path, name, body):
    if name not in SWEEPABLE:
        raise SweepSpecError(
            f"{path}: unknown parameter {name!r}; sweepable: {', '.join(sorted(SWEEPABLE))}"
        )
    if not isinstance(body, dict):
        raise SweepSpecError(
            f"{path}: parameter {name} must be a mapping with value, values or distribution"
        )
    keys = set(body)
    if name == "val_fraction":
        _needs_validation(path, body)
    if keys == {"value"}:
        return Parameter(name, values=[_check_value(path, name, body["value"])])
    if (
        keys == {"values"}
        or keys == {"values", "distribution"}
        and body["distribution"] == "categorical"
    ):
        values = body["values"]
        if not isinstance(values, list) or not values:
            raise SweepSpecError(f"{path}: parameter {name}: values must be a non-empty list")
        return Parameter(name, values=[_check_value(path, name, v) for v in values])
    dist = body.get("distribution")
    if dist in DISTRIBUTIONS and {"min", "max"} <= keys <= {"distribution", "min", "max", "q"}:
        if SETTINGS[name]["kind"] not in (int, float) or SETTINGS[name]["many"]:
            raise SweepSpecError(
                f"{path}: parameter {name} is not a number: give values: [...], not a "
                f"{dist} distribution"
            )
        low = _check_value(path, name, body["min"])
        high = _check_value(path, name, body["max"])
        if isinstance(low, list) or not low < high:
            raise SweepSpecError(f"{path}: parameter {name}: needs min < max, got {low} and {high}")
        if dist == "int_uniform" and not (float(low).is_integer() and float(high).is_integer()):
            raise SweepSpecError(f"{path}: parameter {name}: int_uniform needs integer min and max")
        if dist == "log_uniform_values" and low <= 0:
            raise SweepSpecError(f"{path}: parameter {name}: log_uniform_values needs min > 0")
        if dist == "q_uniform" and "q" not in body:
            raise SweepSpecError(f"{path}: parameter {name}: q_uniform needs q")
        q = body.get("q")
        if q is not None and (isinstance(q, bool) or not isinstance(q, (int, float)) or q <= 0):
            raise SweepSpecError(f"{path}: parameter {name}: q must be a number > 0, got {q!r}")
        if dist != "int_uniform" and SETTINGS[name]["kind"] is int:
            # A float distribution on an integer setting would train --epochs 1.548 as 1.
            raise SweepSpecError(
                f"{path}: parameter {name} takes integers: use distribution int_uniform "
                f"(or values: [...]), not {dist}"
            )
        return Parameter(name, distribution=dist, low=low, high=high, q=q)
    raise SweepSpecError(
        f"{path}: parameter {name}: expected value, values, or distribution "
        f"({', '.join(DISTRIBUTIONS)}) with min and max; got {sorted(keys)}"
    )


def parse_spec(raw, path="<sweep>"):
    """Check a sweep configuration (a dict as read from YAML) and return a SweepSpec."""
    if not isinstance(raw, dict):
        raise SweepSpecError(f"{path}: a sweep file must be a YAML mapping")
    unknown = set(raw) - TOP_LEVEL
    if unknown:
        raise SweepSpecError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(TOP_LEVEL))}"
        )
    method = raw.get("method")
    if method not in METHODS:
        raise SweepSpecError(f"{path}: method must be one of {', '.join(METHODS)}, got {method!r}")
    metric = raw.get("metric", {"name": OBJECTIVE, "goal": "maximize"})
    if (
        not isinstance(metric, dict)
        or metric.get("name") != OBJECTIVE
        or metric.get("goal", "maximize") != "maximize"
    ):
        raise SweepSpecError(
            f"{path}: metric must be {{name: {OBJECTIVE}, goal: maximize}}; "
            "validation accuracy is the only objective"
        )
    params = raw.get("parameters")
    if not isinstance(params, dict) or not params:
        raise SweepSpecError(f"{path}: parameters must be a non-empty mapping")
    parameters = {name: _parameter(path, name, body) for name, body in params.items()}
    spec = SweepSpec(
        method=method, parameters=parameters, path=str(path), name=raw.get("name"), raw=raw
    )
    if method == "grid":
        continuous = [p.name for p in parameters.values() if not p.is_categorical]
        if continuous:
            raise SweepSpecError(
                f"{path}: grid search needs values lists, not distributions "
                f"({', '.join(continuous)})"
            )
    run_cap = raw.get("run_cap")
    if run_cap is not None:
        if not is_whole(run_cap, 1):
            raise SweepSpecError(f"{path}: run_cap must be a positive integer, got {run_cap!r}")
        spec.run_cap = run_cap
    early = raw.get("early_terminate")
    if early is not None:
        if not isinstance(early, dict) or early.get("type") != "hyperband":
            raise SweepSpecError(f"{path}: early_terminate supports type: hyperband only")
        extra = set(early) - {"type", "min_iter", "eta", "max_iter", "s", "strict"}
        if extra:
            raise SweepSpecError(
                f"{path}: early_terminate: unknown key(s) {', '.join(sorted(extra))}"
            )
        min_iter, eta = early.get("min_iter", 1), early.get("eta", 3)
        if not (is_whole(min_iter, 1) and is_whole(eta, 2)):
            raise SweepSpecError(
                f"{path}: early_terminate needs integer min_iter >= 1 and eta >= 2, "
                f"got min_iter {min_iter!r}, eta {eta!r}"
            )
        max_iter = early.get("max_iter")
        if max_iter is not None and not is_whole(max_iter, min_iter):
            raise SweepSpecError(
                f"{path}: early_terminate: max_iter must be an integer >= min_iter ({min_iter}), "
                f"got {max_iter!r}"
            )
        spec.hyperband = {"min_iter": min_iter, "eta": eta, "max_iter": max_iter}
    return spec


def load_spec(path):
    """Read and check a sweep YAML file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepSpecError(f"{path}: no such sweep file") from None
    except IsADirectoryError:
        raise SweepSpecError(f"{path}: is a folder; give the sweep's YAML file") from None
    except UnicodeDecodeError:
        raise SweepSpecError(f"{path}: not a text file; give the sweep's YAML file") from None
    except OSError as exc:
        raise SweepSpecError(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise SweepSpecError(f"{path}: not valid YAML ({first})") from None
    return parse_spec(raw, path)
