"""nbnet from Python: ``from nbnet import MLPClassifier`` (scikit-learn's interface) or
``from nbnet import MLP`` (the network itself)."""

from experiments.estimator import MLPClassifier
from network import MLP

__all__ = ["MLP", "MLPClassifier"]
