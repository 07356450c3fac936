"""Ctrl-C and SIGTERM during training: never lost.

A stop is a ``KeyboardInterrupt`` (train.py and the sweep workers turn SIGTERM into one),
raised by the signal's handler in whatever Python code the main thread runs at that moment.
Numba drops it in two places:

- its compiler calls back into Python through ctypes, and an exception raised in such a
  callback is printed ("Exception ignored on calling ctypes callback") and dropped:
  :func:`deferred` holds the stop until the compilation is over;
- its dispatcher types every argument of a compiled call, and for an argument that is
  itself a compiled function it runs Python code (``Dispatcher._numba_type_``) whose
  exception it clears: the step loop took such arguments, and 3 SIGTERMs in 25 sent to a
  running ``train.py`` were lost this way, the run training on to its last epoch.
  :func:`watched` notes every stop and :meth:`Watch.check` raises it again between calls.

Both only act in the main thread, the one Python runs signal handlers in.
"""

import signal
import threading
from contextlib import contextmanager

STOPS = (signal.SIGINT, signal.SIGTERM)

#: Whether this process got SIGTERM (set by the handler :func:`stop_on_sigterm` installs).
_terminated = False


def _stop(signum, frame):
    global _terminated
    _terminated = True
    raise KeyboardInterrupt


def stop_on_sigterm():
    """``kill``, ``timeout``, ``docker stop`` and cluster pre-emption send SIGTERM: stop as on
    Ctrl-C (a KeyboardInterrupt), so the run or sweep saves what it has and can resume."""
    signal.signal(signal.SIGTERM, _stop)


def terminate_now():
    """Act as if SIGTERM had just arrived (a worker whose parent is already gone)."""
    _stop(signal.SIGTERM, None)


def terminated():
    """True once this process got SIGTERM: an error that follows is the stop's echo (an
    interrupt that reached a library's cleanup can come out as another exception)."""
    return _terminated


def _in_main_thread():
    return threading.current_thread() is threading.main_thread()


@contextmanager
def deferred():
    """Hold Ctrl-C and SIGTERM until the block ends, then raise KeyboardInterrupt."""
    if not _in_main_thread():
        yield
        return
    received = []

    def remember(signum, frame):
        received.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in STOPS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt


class Watch:
    """The stops seen since :func:`watched` began; :meth:`check` raises a lost one."""

    def __init__(self):
        self.stopped = False

    def check(self):
        """Raise KeyboardInterrupt if a stop was raised and something swallowed it (when
        nothing did, it is already on its way up and this is never reached)."""
        if self.stopped:
            raise KeyboardInterrupt


@contextmanager
def watched():
    """Within the block, every Ctrl-C or SIGTERM whose handler raises KeyboardInterrupt is
    noted in the :class:`Watch` it yields. Handlers that do not raise (or the default
    action of a SIGTERM nobody handles) are left as they are."""
    watch = Watch()
    if not _in_main_thread():
        yield watch
        return

    def noting(handler):
        def note(signum, frame):
            try:
                handler(signum, frame)
            except KeyboardInterrupt:
                watch.stopped = True
                raise

        return note

    previous = {sig: signal.getsignal(sig) for sig in STOPS}
    for sig, handler in previous.items():
        if callable(handler):
            signal.signal(sig, noting(handler))
    try:
        yield watch
    finally:
        for sig, handler in previous.items():
            if callable(handler):
                signal.signal(sig, handler)
