"""Hyperparameter sweeps: the W&B sweep YAML checked (spec), run offline with Optuna or online
with W&B's agent (engine), and analysed (report)."""
