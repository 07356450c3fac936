"""Numba's on-disk cache: one folder per version of the inlined sources, the step loop cached.

kernels/cache.py and kernels/rules.py say why; these tests pin the behaviour they promise.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba.core import caching

import optimizers
from kernels import cache, rules, steps
from optimizers import adam
from optimizers.base import Optimizer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_project_caches_in_a_folder_named_by_its_sources(tmp_path, monkeypatch):
    """Every function of the project is cached under ``nbnet-<digest>``, and an edit to any
    module of kernels or optimizers names another folder, so nothing stale is read; a
    function outside the project keeps Numba's locators."""
    locator = cache._stamped(caching.InTreeCacheLocator)
    path = locator.from_function(steps.step_loop_py, steps.__file__).get_cache_path()
    assert os.path.basename(path) == f"nbnet-{cache.sources_digest()[:16]}"
    assert locator.from_function(pytest.approx, pytest.__file__) is None
    assert any(c.__name__.startswith("Project") for c in caching.CacheImpl._locator_classes)

    for package in cache.INLINED:  # a copy of the sources, to edit
        (tmp_path / package).mkdir()
        for name in os.listdir(os.path.join(REPO, package)):
            if name.endswith(".py"):
                source = os.path.join(REPO, package, name)
                (tmp_path / package / name).write_bytes(open(source, "rb").read())
    monkeypatch.setattr(cache, "ROOT", str(tmp_path))
    before = cache.sources_digest.__wrapped__()
    assert before == cache.sources_digest()  # the copy is the same sources
    with open(tmp_path / "optimizers" / "adam.py", "a") as edited:
        edited.write("# an edit\n")
    assert cache.sources_digest.__wrapped__() != before


def test_a_second_process_loads_the_step_loop_from_the_cache():
    """The step loop finds the optimizer's rule by type, so Numba reloads it from disk: the
    second of two processes compiles nothing for it (it was compiled in every process)."""
    code = textwrap.dedent(
        """
        import numpy as np
        import optimizers
        from kernels import steps
        from network import MLP
        net = MLP([6, 5, 3], dtype=np.float32, seed=0)
        opt = optimizers.get("nadam")
        state = opt.init(net.layout.n_params, np.float32, dict(
            learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8))
        x, y = np.ones((8, 6), np.float32), np.zeros(8, np.int64)
        net.train_steps(x, y, np.arange(8), 0, 2, 4, opt, state)
        stats = steps.step_loop(type(state.hyper)).stats
        print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
        """
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
        )
        for _ in range(2)
    ]
    assert all(run.returncode == 0 for run in runs), runs[-1].stderr
    hits, misses = runs[1].stdout.split()
    assert int(hits) >= 1 and int(misses) == 0


def test_each_optimizer_needs_a_hyper_class_of_its_own():
    """Two rules with one Hyper class could not be told apart by the compiled loop."""
    with pytest.raises(ValueError, match="uses the Hyper class of 'adam'; give it a class"):
        Optimizer(
            name="adam_again",
            coefficients=adam.OPTIMIZER.coefficients,
            element=adam.OPTIMIZER.element,
            hyper=adam.Hyper,
            n_slots=2,
            n_scalars=1,
            formula="Adam",
        )
    classes = [opt.hyper for opt in optimizers.REGISTRY.values()]
    assert len(set(classes)) == len(classes)
    assert {rules.RULES[c][0] for c in classes} == set(optimizers.REGISTRY)


def test_one_process_trains_every_optimizer_with_its_own_rule():
    """momentum and nag have Hyper records of the same field types; each gets its own loop
    (one dispatcher for both ran momentum's rule for nag)."""
    results = {}
    for name in ("momentum", "nag"):
        from network import MLP

        net = MLP([4, 5, 3], dtype=np.float64, seed=2)
        opt = optimizers.get(name)
        state = opt.init(net.layout.n_params, np.float64, dict(learning_rate=0.1, momentum=0.9))
        x = np.linspace(-1, 1, 40).reshape(10, 4)
        net.train_steps(x, np.arange(10) % 3, np.arange(10), 0, 4, 5, opt, state)
        results[name] = net.params.copy()
    assert not np.allclose(results["momentum"], results["nag"])
    assert steps.step_loop(optimizers.get("momentum").hyper) is not steps.step_loop(
        optimizers.get("nag").hyper
    )


def test_a_hyper_record_of_another_class_still_runs_the_trainers_rule():
    """A state whose record has Adam's class but belongs to nadam (as an estimator pickled by
    an older nbnet holds) trains with nadam's rule."""
    from network import MLP

    nadam = optimizers.get("nadam")
    params = []
    for record_class in (nadam.hyper, adam.Hyper):
        net = MLP([4, 5, 3], dtype=np.float64, seed=3)
        state = nadam.init(net.layout.n_params, np.float64, {
            "learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8})  # fmt: skip
        state.hyper = record_class(*state.hyper)
        x = np.linspace(-1, 1, 40).reshape(10, 4)
        net.train_steps(x, np.arange(10) % 3, np.arange(10), 0, 3, 5, nadam, state)
        params.append(net.params.copy())
    np.testing.assert_array_equal(params[0], params[1])
