"""Read and validate IDX files (the MNIST format), gzip-compressed or not.

An IDX file is a big-endian header ``00 00 <dtype> <ndim>`` followed by ``ndim``
uint32 dimension sizes and the data. nbnet reads unsigned-byte files only
(dtype code 0x08): 3-D image stacks and 1-D label vectors.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

UBYTE = 0x08


class DataError(ValueError):
    """A data file is missing, truncated, corrupt or does not match its partner."""


def read_idx(path, ndim):
    """Return the uint8 array stored in an IDX file.

    Parameters
    ----------
    path : path-like
        ``*.gz`` files are decompressed.
    ndim : int
        Expected dimensions: 3 for images, 1 for labels.

    Raises
    ------
    DataError
        One line naming the file and what is wrong with it.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: cannot be read or decompressed ({exc}); delete it and fetch it again"
        ) from None
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(
            f"{path}: truncated IDX file ({len(raw)} bytes, header needs {header_size})"
        )
    if raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE or raw[3] != ndim:
        raise DataError(
            f"{path}: not a {ndim}-D unsigned-byte IDX file (magic number {raw[:4].hex()}, "
            f"expected 000008{ndim:02x})"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(raw) - header_size != expected:
        raise DataError(
            f"{path}: header says {shape} ({expected} bytes of data) but the file "
            f"holds {len(raw) - header_size}; it is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def idx_bytes(array):
    """The bytes of ``array`` (uint8) as an uncompressed IDX file: header, then data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UBYTE, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def write_idx(path, array):
    """Write a uint8 array as an IDX file (gzip when ``path`` ends in ``.gz``)."""
    payload = idx_bytes(array)
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)
