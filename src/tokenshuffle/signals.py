"""Ctrl-C and SIGTERM during training: remember the signal, let the loop save at the next step boundary.

A trainer holds a ``StopSignals`` around its loop and asks ``requested`` once per step; when set it
writes a checkpoint and raises ``Interrupted``, which the command line turns into one line and the
shell's exit code for the signal (130 for SIGINT, 143 for SIGTERM). Further signals while saving are
ignored on purpose: under torchrun the launcher forwards the signal it got to every worker, so a
worker sees Ctrl-C twice, and a second signal must not abort the save the first one asked for
(SIGKILL still stops at once; checkpoint writes survive it).
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(RuntimeError):
    """The run stopped on a signal after saving a checkpoint; ``exit_code`` is 128 + the signal number."""

    def __init__(self, message: str, *, signum: int) -> None:
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopSignals:
    """Context manager: while inside, SIGINT/SIGTERM set ``signum`` instead of stopping the process.

    Outside the main thread (where Python cannot install handlers) it does nothing and ``signum``
    stays None: the signal then acts as it would without it.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()
