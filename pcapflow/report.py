"""The capture report: what was read, what was skipped and why, file by file.

Nothing is skipped silently: every record is counted under exactly one :class:`DecodeStatus`,
so ``records_read == sum(status_counts.values())`` always holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pcapflow.capture.batch import FileReport
from pcapflow.decode.table import DecodeStatus


@dataclass(frozen=True, slots=True)
class CaptureReport:
    """What reading a set of capture files found."""

    files: tuple[FileReport, ...]
    status_counts: dict[str, int]  # DecodeStatus name -> records, for every status seen
    engine: str
    orphan_fragments: int = 0  # non-first fragments whose first fragment never appeared (not tracked)
    tunnels: dict[str, int] = field(default_factory=dict)  # innermost encapsulation name -> records decapsulated

    def __deepcopy__(self, memo: dict) -> CaptureReport:
        # pandas deep-copies a frame's attrs (where the report lives) on every operation; the
        # report is not changed once reading ends, so sharing it is safe and costs nothing
        return self

    @property
    def records_read(self) -> int:
        return sum(report.records for report in self.files)

    def _of_kind(self, kind: str) -> dict[str, int]:
        return {name: count for name, count in self.status_counts.items() if DecodeStatus[name].kind == kind}

    @property
    def tracked(self) -> dict[str, int]:
        """Records that feed conversations (OK, PORTS_ONLY, FRAGMENT)."""
        return self._of_kind("tracked")

    @property
    def out_of_scope(self) -> dict[str, int]:
        return self._of_kind("out_of_scope")

    @property
    def malformed(self) -> dict[str, int]:
        return self._of_kind("malformed")

    @property
    def damaged_files(self) -> tuple[FileReport, ...]:
        """Files that ended in a truncated or corrupt record (their earlier records were read)."""
        return tuple(report for report in self.files if report.damage)

    def to_dict(self) -> dict:
        return {
            "engine": self.engine,
            "records_read": self.records_read,
            "tracked": self.tracked,
            "out_of_scope": self.out_of_scope,
            "malformed": self.malformed,
            "orphan_fragments": self.orphan_fragments,
            "decapsulated": dict(self.tunnels),
            "files": [report.to_dict() for report in self.files],
        }
