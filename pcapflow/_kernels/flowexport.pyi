import numpy as np

from pcapflow._kernels.flowtable import FlowTable

LETTER_NAMES: tuple[str, ...]
NARROW_FIELDS: tuple[tuple[str, type], ...]
WIDE_FIELDS: tuple[str, ...]
FLOW_FIELDS: tuple[tuple[str, type], ...]
ROLE_FIELDS: tuple[str, ...]
HISTORY_TIE_FLAG: int
ENDED: dict[str, int]

def export_columns(table: FlowTable, order: np.ndarray) -> dict[str, np.ndarray]: ...
def role_columns(table: FlowTable, order: np.ndarray, capture_end: int, out: dict[str, np.ndarray]) -> None: ...
