"""Output folders: whether one can be written, asked before any work goes into it."""

import tempfile
from pathlib import Path


def unwritable(folder):
    """Why ``folder`` cannot be written (it is created if missing), or None when it can."""
    try:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None
