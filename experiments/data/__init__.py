"""The datasets: IDX files (idx), where they are found and how they are checked (sources),
the stratified validation split and the network's inputs (split), and the data of a run
(run_data)."""

from .idx import DataError, read_idx, write_idx
from .run_data import RunData, run_data
from .sources import CLASS_NAMES, FILES, Dataset, canonical_name, load_dataset
from .split import Split, as_inputs, as_pixels, stratified_split

__all__ = [
    "CLASS_NAMES",
    "FILES",
    "DataError",
    "Dataset",
    "Split",
    "as_inputs",
    "as_pixels",
    "canonical_name",
    "load_dataset",
    "RunData",
    "read_idx",
    "run_data",
    "stratified_split",
    "write_idx",
]
