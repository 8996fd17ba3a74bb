"""SIGTERM and SIGINT end a run the way an error does: the staging folders are removed on the
way out, and the CLI prints one line and exits 128 + the signal number.

Python's default SIGTERM kills the process on the spot, which leaves the hidden staging folder
(it may hold synthetic data from the unfinished run) until the next release into the same
folder sweeps it. Raising an exception instead runs every ``with Staging(...)`` block's cleanup.
A second signal while cleaning up gets the default action, so a stuck run can still be stopped.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class Interrupted(BaseException):
    """The run was stopped by a signal. A ``BaseException``, so no ``except Exception`` swallows it."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(signal.Signals(signum).name)


def _raise(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    raise Interrupted(signum)


def install() -> None:
    """Turn SIGTERM and SIGINT into :class:`Interrupted` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _raise)
    signal.signal(signal.SIGINT, _raise)
    # past a file-size limit a write fails with EFBIG (a clean error) instead of SIGXFSZ killing the run
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
