"""The command line's progress line and log lines on standard error.

:func:`format_progress` is the text (a pure function: bytes read, their total when it is known,
packets per second, time left); :class:`ProgressLine` redraws it on one line of a text stream,
at most every :data:`REDRAW_SECONDS`, and is called as the library's progress callback
(:data:`pcapflow.pipeline.Progress`). :class:`LogLines` is a logging handler that writes its
records above the progress line instead of through it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TextIO

from pcapflow.render import human_bytes

#: Shortest time between two redraws of the line.
REDRAW_SECONDS = 0.1
#: Time before a rate (and the time left from it) is shown: the first reads say little.
RATE_AFTER_SECONDS = 0.5


def _count(value: float) -> str:
    """A count with a k or M suffix, three significant digits."""
    for limit, suffix in ((1e6, " M"), (1e3, " k")):
        if value >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}"


def _duration(seconds: float) -> str:
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}"


def format_progress(done: int, total: int | None, records: int | None, elapsed: float) -> str:
    """``reading 12.0 MiB of 48.0 MiB (25%), 1.2 k packets/s, 0:00:03 left``; without a total (a
    pipe) no share and no time left; without a known rate (early on) no rate and no time left."""
    parts = [f"reading {human_bytes(done)}" + (f" of {human_bytes(total)} ({min(done * 100 // max(total, 1), 100)}%)" if total is not None else "")]
    if elapsed >= RATE_AFTER_SECONDS:
        if records is not None:
            parts.append(f"{_count(records / elapsed)} packets/s")
        if total is not None and done:
            parts.append(f"{_duration(max(total - done, 0) * elapsed / done)} left")
    return ", ".join(parts)


class ProgressLine:
    """One line of ``stream`` that shows the progress of a run; call it with (bytes read, their
    total or None, records read or None). :meth:`close` (or leaving it as a context manager)
    leaves the final state on its own line."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic):
        self._stream = stream
        self._clock = clock
        self._start = clock()
        self._last_draw: float | None = None
        self._state: tuple[int, int | None, int | None] | None = None
        self._shown = 0  # characters of the line on screen now

    def __call__(self, done: int, total: int | None, records: int | None = None) -> None:
        self._state = (done, total, records)
        now = self._clock()
        if self._last_draw is None or now - self._last_draw >= REDRAW_SECONDS:
            self._last_draw = now
            self.draw()

    def draw(self) -> None:
        """Show the latest state (nothing before the first call)."""
        if self._state is None:
            return
        text = format_progress(*self._state, self._clock() - self._start)
        self._stream.write("\r" + text + " " * max(self._shown - len(text), 0))
        self._stream.flush()
        self._shown = len(text)

    def clear(self) -> None:
        """Blank the line, so that other text can take its place."""
        if self._shown:
            self._stream.write("\r" + " " * self._shown + "\r")
            self._shown = 0

    def close(self) -> None:
        self.draw()
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()
            self._shown = 0

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class LogLines(logging.Handler):
    """Log records as ``pcapflow.pipeline: message`` lines of ``stream``, above ``line`` if one is shown."""

    def __init__(self, stream: TextIO, line: ProgressLine | None = None):
        super().__init__()
        self._stream = stream
        self._line = line
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if self._line is not None:
                self._line.clear()
            self._stream.write(text + "\n")
            if self._line is not None:
                self._line.draw()
            self._stream.flush()
        except Exception:  # noqa: BLE001 - logging's own rule: a failing handler reports, never raises
            self.handleError(record)
