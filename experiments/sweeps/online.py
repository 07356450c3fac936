"""A sweep on W&B's sweep controller: ``wandb.sweep`` creates it, ``wandb.agent`` runs the
trials here, and other machines join with ``wandb agent``."""

from ..app.tracking import Tracker
from ..config import run_name
from ..memory import TooLarge
from ..training import Diverged
from .sampling import decode_choice
from .trials import TrialRunner


def run_online(spec, base_config, count, wandb_module=None, notify=print):
    """Create the sweep on W&B and run ``count`` trials here with ``wandb.agent``.

    Returns the sweep id; more machines join with ``wandb agent ENTITY/PROJECT/SWEEP_ID``
    (they then run ``program`` from the YAML, i.e. ``python train.py`` with the trial's flags).
    """
    wandb = wandb_module or __import__("wandb")
    sweep_config = dict(spec.raw)
    sweep_config.setdefault("metric", {"name": "val_accuracy", "goal": "maximize"})
    sweep_config.setdefault("program", "train.py")
    # Agents on other machines run train.py; keep them off the test set too.
    # ${args_no_boolean_flags} passes `--restore_best` for true, which train.py's switches expect.
    sweep_config.setdefault(
        "command",
        [
            "${env}",
            "${interpreter}",
            "${program}",
            "--no-evaluate_test",
            "${args_no_boolean_flags}",
        ],
    )
    project, entity = base_config.wandb_project, base_config.wandb_entity
    sweep_id = wandb.sweep(sweep_config, project=project, entity=entity)
    runner = TrialRunner(base_config, spec.name or sweep_id, wandb, notify, spec)

    def one_trial():
        run = wandb.init()
        params = {
            name: decode_choice(value)
            for name, value in dict(run.config).items()
            if name in spec.parameters
        }
        run.name = run_name(base_config.replace(**params))
        try:
            config, history = runner.run(params, tracker=Tracker.attach(run, wandb, notify))
            notify(f"{run.name}: val_accuracy {history.final_val_accuracy:.4f}")
        except Diverged as exc:
            notify(f"{run.name}: diverged ({exc}); recorded as failed")
        except TooLarge as exc:  # raised before training: the W&B run is still open
            notify(f"{run.name}: too large for this machine ({exc}); recorded as failed")
            run.finish(exit_code=1)

    wandb.agent(sweep_id, function=one_trial, count=count, project=project, entity=entity)
    return sweep_id
