"""Reading several capture files as one capture: capture reading and decoding, batch by batch.

:class:`PacketReader` is the stream every later stage consumes: iterate it for
:class:`~pcapflow.decode.PacketTable` batches in capture order (files in the order given,
records in file order); its :attr:`~PacketReader.report` is complete once iteration ends.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from pcapflow.capture import DEFAULT_CHUNK_BYTES, FileReport, open_capture
from pcapflow.decode import SUPPORTED_LINKTYPES, DecodeStatus, PacketTable, decode
from pcapflow.errors import OptionsError, UnsupportedLinkTypeError
from pcapflow.options import AnalysisOptions
from pcapflow.report import CaptureReport

PathLike = str | os.PathLike[str]


def as_paths(paths: PathLike | Iterable[PathLike]) -> list[str]:
    """One path or many, as a list of strings."""
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(path) for path in paths]


class PacketReader:
    """Decoded packet batches of one or more capture files, read as one capture."""

    def __init__(
        self,
        paths: PathLike | Iterable[PathLike],
        *,
        engine: str = "fast",
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        progress: Callable[[int, int], None] | None = None,
    ):
        AnalysisOptions(engine=engine, chunk_bytes=chunk_bytes)  # validates them
        self.paths = as_paths(paths)
        if len(self.paths) > np.iinfo(np.uint16).max:
            raise OptionsError(f"at most {np.iinfo(np.uint16).max} files can be read together")
        self.engine = engine
        self.chunk_bytes = chunk_bytes
        self.progress = progress
        self._files: list[FileReport] = []
        self._statuses: Counter[int] = Counter()

    def __iter__(self) -> Iterator[PacketTable]:
        self._files.clear()
        self._statuses.clear()
        total = sum(os.path.getsize(path) for path in self.paths) if self.progress else 0
        done = 0
        for index, path in enumerate(self.paths):
            with open_capture(path, index) as capture:
                self._files.append(capture.report)
                for batch in capture.batches(self.chunk_bytes):
                    table = decode(batch, self.engine)
                    values, counts = np.unique(table.status, return_counts=True)
                    self._statuses.update(dict(zip(values.tolist(), counts.tolist())))
                    if self.progress:
                        self.progress(done + capture.position, total)
                    yield table
                _check_linktypes(capture.report)
                done += os.path.getsize(path) if self.progress else 0

    @property
    def report(self) -> CaptureReport:
        counts = {DecodeStatus(value).name: count for value, count in sorted(self._statuses.items())}
        return CaptureReport(files=tuple(self._files), status_counts=counts, engine=self.engine)


def _check_linktypes(report: FileReport) -> None:
    if report.linktypes and not SUPPORTED_LINKTYPES.intersection(report.linktypes):
        kinds = ", ".join(str(linktype) for linktype in sorted(set(report.linktypes)))
        raise UnsupportedLinkTypeError(report.path, f"no interface has a supported link type (link types: {kinds})")
