import numpy as np

class PcapngWalker:
    records: int
    skipped_blocks: int
    timestamps_out_of_range: int
    linktypes: list[int]
    ignored_options: list[tuple[int, str, int]]
    def walk(self, buffer: np.ndarray, pos: int, end: int) -> tuple[tuple[np.ndarray, ...], int, int, tuple[int, int]]: ...
