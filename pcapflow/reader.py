"""Reading several capture files as one capture: capture reading and decoding, batch by batch.

:class:`PacketReader` is the stream of decoded packets: iterate it for
:class:`~pcapflow.decode.PacketTable` batches in capture order (files in the order given,
records in file order); its :attr:`~PacketReader.report` is complete once iteration ends.
A capture is read in pieces by ``workers`` threads at once (see :mod:`pcapflow.pipeline`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from pcapflow.decode import PacketTable
from pcapflow.errors import OptionsError
from pcapflow.options import DEFAULT_CHUNK_BYTES, AnalysisOptions, usable_cores
from pcapflow.pipeline import CaptureRun, Progress
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
        progress: Progress | None = None,
        workers: int | None = None,
        decapsulate: bool = False,
    ):
        """With ``decapsulate``, a tunnelled record's row holds its innermost packet's headers,
        with its ``tunnel``, ``tunnel_depth`` and ``tunnel_id``."""
        settings = AnalysisOptions(engine=engine, chunk_bytes=chunk_bytes, workers=usable_cores() if workers is None else workers)
        self.paths = as_paths(paths)
        if len(self.paths) > np.iinfo(np.uint16).max:
            raise OptionsError(f"at most {np.iinfo(np.uint16).max} files can be read together")
        self.engine = engine
        self.chunk_bytes = chunk_bytes
        self.progress = progress
        self.workers = settings.workers
        self.decapsulate = decapsulate
        self._run: CaptureRun | None = None

    def __iter__(self) -> Iterator[PacketTable]:
        self._run = CaptureRun(
            self.paths, engine=self.engine, chunk_bytes=self.chunk_bytes, workers=self.workers, progress=self.progress
        )
        yield from self._run.tables(self.decapsulate)

    @property
    def report(self) -> CaptureReport:
        if self._run is None:
            return CaptureReport(files=(), status_counts={}, engine=self.engine)
        return self._run.report
