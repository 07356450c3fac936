"""Which dataset a set of files holds, from the SHA-256 digests of their contents.

IDX files cannot say whether they hold digits or clothes, but the published files
of both datasets have well-known contents. The digests below are of the
uncompressed IDX files (the MNIST ones match the md5 sums LeCun & Cortes publish
for the uncompressed files); they are computed from the loaded arrays, so the
same digest identifies a file whatever gzip wrapper it came in (Debian's
package and mirrors recompress it) and Keras's ``mnist.npz`` too.
"""

import hashlib

import numpy as np

from .idx import idx_bytes

#: SHA-256 of each published, uncompressed IDX file, by dataset and array.
PUBLISHED = {
    "fashion_mnist": {
        "x_train": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "y_train": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "x_test": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "y_test": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    "mnist": {
        "x_train": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "y_train": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "x_test": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "y_test": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
}
_OWNER = {digest: name for name, files in PUBLISHED.items() for digest in files.values()}


def digest(array):
    """SHA-256 of ``array`` written as an uncompressed IDX file (uint8)."""
    return hashlib.sha256(idx_bytes(np.asarray(array, dtype=np.uint8))).hexdigest()


def identify(digests):
    """The dataset whose published files these are.

    Parameters
    ----------
    digests : dict
        ``{"x_train": sha256, ...}`` for the arrays that were loaded.

    Returns
    -------
    str or None
        The dataset every digest belongs to; ``None`` when any file is not one of
        the published files (a user's own data, or a modified copy).
    """
    owners = {_OWNER.get(d) for d in digests.values()}
    return owners.pop() if len(owners) == 1 else None


def owner(value):
    """The dataset whose published file has the digest ``value`` (None: neither's)."""
    return _OWNER.get(value)


def foreign(name, digests):
    """The other dataset some of these files belong to (None: none of them does)."""
    for value in digests.values():
        owner = _OWNER.get(value)
        if owner is not None and owner != name:
            return owner
    return None
