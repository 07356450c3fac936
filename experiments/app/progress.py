"""Terminal display of a run: a live progress bar and per-epoch lines (rich)."""

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from ..training import Callback

#: Printed before the kernels compile, so the first run's wait is explained.
COMPILING = (
    "compiling the kernels (the first run on this machine takes longest; "
    "later runs load them from Numba's cache)"
)


class RichProgress(Callback):
    """Shows each epoch's steps with the running loss, then one line of metrics.

    On a terminal the bar is live; elsewhere (CI, pipes) only the epoch lines
    are printed. ``quiet`` shows nothing.
    """

    def __init__(self, console, epochs, quiet=False):
        self.console = console
        self.epochs = epochs
        self.quiet = quiet
        self.progress = None
        self.task = None
        self.compiling = None

    def __enter__(self):
        if not self.quiet and self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
        return False

    def on_compile_start(self):
        """Say why nothing moves yet: compiling takes seconds (most of them only once)."""
        if self.progress is not None:
            self.compiling = self.progress.add_task(
                "compile", total=None, epoch="-", epochs=self.epochs, loss=float("nan")
            )
            self.progress.update(self.compiling, description="compile")
        if not self.quiet:
            self.console.print(COMPILING, highlight=False)

    def on_compile_end(self, seconds):
        if self.progress is not None and self.compiling is not None:
            self.progress.remove_task(self.compiling)
            self.compiling = None
        if not self.quiet:
            self.console.print(f"compiled in {seconds:.1f} s", highlight=False)

    def on_epoch_start(self, epoch, steps):
        if self.progress is not None:
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.task = self.progress.add_task(
                "train", total=steps, epoch=epoch, epochs=self.epochs, loss=float("nan")
            )

    def on_steps(self, epoch, done, steps, running_loss):
        if self.progress is not None:
            self.progress.update(self.task, completed=done, loss=running_loss)

    def on_epoch_end(self, m):
        if not self.quiet:
            validation = (
                f"val loss {m['val_loss']:.4f} acc {m['val_accuracy']:.2%}"
                if m["val_accuracy"] == m["val_accuracy"]  # NaN: no validation data
                else "no validation data"
            )
            self.console.print(
                f"epoch {m['epoch']:>3}/{self.epochs}  train loss {m['train_loss']:.4f} "
                f"acc {m['train_accuracy']:.2%}  |  {validation}  |  {m['train_seconds']:.2f}s",
                highlight=False,
            )


def make_console():
    return Console(highlight=False)


def print_problem(console, label, message, style="red"):
    """Print ``label: message`` with a coloured label.

    The message is printed as plain text, never read as Rich markup: error
    messages quote things like ``pip install -e ".[keras]"`` or paths with
    brackets, which markup would silently swallow.
    """
    console.print(Text.assemble((f"{label}:", style), " ", str(message)))
