"""The exceptions pcapflow raises: one base class, so callers (and the CLI) catch one type.

A file that is unusable as a whole raises a :class:`CaptureError` naming the file, the problem
and the byte offset. A bad *packet* never raises: it gets a status code and is counted in the
capture report.
"""

from __future__ import annotations

import os


class PcapflowError(Exception):
    """Base class of every error pcapflow raises on purpose."""


class CaptureError(PcapflowError, ValueError):
    """A capture file cannot be used at all (not a capture, header cut, no readable record...).

    ``path`` is the file, ``offset`` the byte offset of the problem (in the decompressed stream
    when the file is compressed), ``problem`` the bare description.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str, offset: int | None = None):
        self.path = os.fspath(path)
        self.problem = problem
        self.offset = offset
        where = f" (at byte {offset})" if offset is not None else ""
        super().__init__(f"{self.path}: {problem}{where}")

    def __reduce__(self):  # picklable, so that a task run in another process (Dask, a process pool) can hand it over
        return (type(self), (self.path, self.problem, self.offset))


class UnsupportedLinkTypeError(CaptureError):
    """Every interface of the capture has a link type pcapflow cannot decode."""


class OptionsError(PcapflowError, ValueError):
    """An option has an invalid value, or options contradict each other."""
