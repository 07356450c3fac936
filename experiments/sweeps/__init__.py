"""Hyperparameter sweeps: the W&B sweep YAML checked (spec); run offline on an Optuna study
(sampling: the method as a sampler; storage: where the study lives; trials: training and
counting them; workers: processes pinned to cores) or online with W&B's agent (online); and
analysed (report)."""
