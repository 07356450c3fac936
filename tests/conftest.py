import os

# The CUDA kernels run on Numba's simulator in the tests (set before numba.cuda is imported).
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

# JIT compilation makes first calls slow: no deadlines anywhere.
settings.register_profile(
    "default",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SHARED_DATA = ROOT.parent / "shared" / "datasets"

HYPER = dict(learning_rate=0.01, momentum=0.9, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8)


def shared_dataset(name):
    """Path of a real dataset beside the checkout, or skip the test with the reason."""
    folder = SHARED_DATA / name
    if not (folder / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real {name} data not found at {folder} (only present beside the CI checkout)")
    return folder


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
