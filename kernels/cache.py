"""Numba's on-disk cache, one folder per version of the sources that kernels inline.

Numba stamps a cached function with its own source file only, so a function that calls into
another file (every step of the loop does: the dense layers, the losses, the optimizers'
rules, :mod:`kernels.rules`) would reload old machine code after that other file changed;
and an index file left by older sources can name a class that no longer exists, which fails
to unpickle before Numba even compares stamps (``AttributeError: Can't get attribute 'Net'``,
met when the step loop became cacheable under a name an old index still had).
:func:`install` puts locators in front of Numba's own for the functions of this project that
keep each function's cache in a subfolder named by the digest of every module of ``kernels``
and ``optimizers`` (the packages whose functions others inline), ``nbnet-<digest>``: an edit
there compiles the project's kernels afresh, once, into a new folder, and nothing of an older
version is read. Functions outside the project keep Numba's locators; the locators keep
Numba's choice of the folder above (``NUMBA_CACHE_DIR``, ``__pycache__`` beside the source,
or the user-wide cache when that is not writable). Old folders are left in place (a few MB
each; delete ``__pycache__/nbnet-*`` at will).
"""

import functools
import hashlib
import os

from numba.core import caching

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The packages whose functions other compiled functions inline.
INLINED = ("kernels", "optimizers")
#: The folders of the project's compiled functions (a virtual environment inside the
#: checkout is not the project).
PROJECT = ("kernels", "optimizers", "network", "experiments", "perf", "tests")


@functools.cache
def sources_digest():
    """The digest of every ``.py`` file of :data:`INLINED` (names and contents), as this
    process first found them."""
    digest = hashlib.sha256()
    for package in INLINED:
        folder = os.path.join(ROOT, package)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                st = os.stat(path)
                digest.update(name.encode())
                digest.update(caching._hash_source_file(path, st.st_mtime, st.st_size))
    return digest.hexdigest()


def _in_project(py_file):
    relative = os.path.relpath(os.path.abspath(py_file), ROOT)
    return relative.split(os.sep)[0] in PROJECT


def _stamped(base):
    """``base``, one of Numba's file-backed locators, for the project's functions only, in a
    subfolder of its folder named by :func:`sources_digest`."""

    class ProjectLocator(base):
        @classmethod
        def from_function(cls, py_func, py_file):
            if not _in_project(py_file):
                return None
            return super().from_function(py_func, py_file)

        def get_cache_path(self):
            return os.path.join(super().get_cache_path(), f"nbnet-{sources_digest()[:16]}")

    ProjectLocator.__name__ = ProjectLocator.__qualname__ = f"Project{base.__name__}"
    return ProjectLocator


def install():
    """Put the project's locators first (once), in Numba's own order of preference. Must run
    before the first ``cache=True`` function is defined: Numba picks a function's locator
    when it is decorated. Does nothing on a Numba without these classes (the per-file stamps
    then stay, with their staleness)."""
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    names = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")
    bases = [getattr(caching, n, None) or getattr(caching, "_" + n, None) for n in names]
    if impl is None or None in bases:
        return
    if any(getattr(c, "__name__", "").startswith("Project") for c in impl._locator_classes):
        return
    impl._locator_classes = [_stamped(b) for b in bases] + list(impl._locator_classes)
