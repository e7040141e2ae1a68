import enum

import numpy as np

class WalkStop(enum.IntEnum):
    WALK_NEED_MORE = 0
    WALK_OVERSIZED = 1
    WALK_LIMIT = 2
    WALK_BAD_BYTE_ORDER = 3
    WALK_BAD_LENGTH = 4
    WALK_LENGTHS_DIFFER = 5
    WALK_BAD_VERSION = 6
    WALK_PACKET_TOO_LONG = 7

TIMESTAMP_LIMIT_NS: int

def record_columns(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
MAX_PCAPNG_BLOCK_BYTES: int

def walk_pcap(
    buffer: np.ndarray, pos: int, end: int, big_endian: bool, ns_per_fraction: int, max_caplen: int, limit: int
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], int, int, int]: ...

def find_pcap_boundary(
    window: np.ndarray, start: int, end: int, at_eof: bool, big_endian: bool, first_seconds: int, time_span: int,
    fraction_limit: int, max_caplen: int, max_wirelen: int, confirming: int,
) -> tuple[int, bool]: ...
