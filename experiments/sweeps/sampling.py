"""The sweep YAML's method as an Optuna sampler, and its parameters drawn through a trial.

``grid`` -> GridSampler (its points queued by :func:`experiments.sweeps.trials.plan`),
``random`` -> RandomSampler, ``bayes`` -> TPESampler, each seeded per trial
(:class:`TrialSeeded`); ``early_terminate: hyperband`` -> Optuna's HyperbandPruner, fed
with the validation accuracy of every epoch.
"""

import json

import optuna

from ..seeds import derived_seed


def encode_choice(value):
    """Optuna categoricals must be scalars: lists (``hidden_sizes``) become strings."""
    return json.dumps(value) if isinstance(value, list) else value


def decode_choice(value):
    """An Optuna categorical value back as the setting's value (inverse of ``encode_choice``)."""
    return json.loads(value) if isinstance(value, str) and value.startswith("[") else value


def suggest(trial, spec):
    """Draw one configuration of ``spec``'s parameters through ``trial``."""
    params = {}
    for p in spec.parameters.values():
        if p.is_categorical:
            if len(p.values) == 1:
                params[p.name] = p.values[0]
            else:
                choice = trial.suggest_categorical(p.name, [encode_choice(v) for v in p.values])
                params[p.name] = decode_choice(choice)
        elif p.distribution == "int_uniform":
            params[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high))
        else:
            params[p.name] = trial.suggest_float(
                p.name,
                p.low,
                p.high,
                log=p.distribution == "log_uniform_values",
                step=p.q if p.distribution == "q_uniform" else None,
            )
    return params


def make_sampler(spec, seed):
    """The YAML method's sampler. Grid points come from the queue :func:`plan` fills;
    random and bayes draw trial ``n``'s values with a generator seeded by ``(seed, n)``."""
    if spec.method == "grid":
        space = {
            n: [encode_choice(v) for v in p.values]
            for n, p in spec.parameters.items()
            if len(p.values) > 1
        }
        if not space:
            # A grid of one point, queued by plan() like every grid point: GridSampler, given
            # no dimension, failed every trial (KeyError 'grid_id'); nothing is left to draw.
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.GridSampler(space, seed=seed)
    if spec.method == "random":
        return TrialSeeded(optuna.samplers.RandomSampler, seed)
    return TrialSeeded(lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True), seed)


class TrialSeeded(optuna.samplers.BaseSampler):
    """A sampler whose draws for trial ``n`` come from ``make(derived_seed(seed, n))``.

    An Optuna sampler seeded once per process draws the same sequence in every process:
    two machines started with the same command proposed the same learning rates and
    trained each configuration twice. Seeded per trial number instead (unique in the
    study), every trial draws its own values, whichever process or machine runs it, and
    a sweep is reproducible whatever its worker count (for bayes, given the same history).
    """

    def __init__(self, make, seed):
        self._make, self._seed = make, seed
        self._current = (None, None)  # (trial number, its sampler)

    def _sampler(self, trial):
        if self._current[0] != trial.number:
            self._current = (trial.number, self._make(derived_seed(self._seed, trial.number)))
        return self._current[1]

    def infer_relative_search_space(self, study, trial):
        return self._sampler(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._sampler(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._sampler(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):
        self._sampler(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self._sampler(trial).after_trial(study, trial, state, values)


def make_pruner(spec):
    if not spec.hyperband:
        return optuna.pruners.NopPruner()
    max_resource = spec.hyperband.get("max_iter") or spec.max_epochs or "auto"
    return optuna.pruners.HyperbandPruner(
        min_resource=spec.hyperband["min_iter"],
        max_resource=max_resource,
        reduction_factor=spec.hyperband["eta"],
    )
