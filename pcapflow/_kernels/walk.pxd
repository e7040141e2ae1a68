# What the record walks share: why a walk stopped (a Python IntEnum too, from walk.pyx), the
# formats' numbers, and the timestamp range.

from libc.stdint cimport int64_t

cpdef enum WalkStop:
    # why a walk stopped (the caller turns these into a file's report)
    WALK_NEED_MORE = 0  # the bytes held end inside a record, or exactly after one
    WALK_OVERSIZED = 1  # pcap: the record there claims more bytes than its link type allows
    WALK_LIMIT = 2  # the next record starts where the next piece of the file begins
    WALK_BAD_BYTE_ORDER = 3  # pcapng: a section header with a bad byte-order magic
    WALK_BAD_LENGTH = 4  # pcapng: a block length below 12, not a multiple of 4 or above the maximum
    WALK_LENGTHS_DIFFER = 5  # pcapng: a block's leading and trailing lengths differ
    WALK_BAD_VERSION = 6  # pcapng: a section of a major version other than 1
    WALK_PACKET_TOO_LONG = 7  # pcapng: a packet block claims more bytes than its link type allows

cdef enum:
    PCAP_RECORD_HEADER = 16
    MAX_BLOCK_BYTES = 16 << 20  # pcapng blocks longer than this are corruption: no packet needs more
    SECTION_HEADER = 0x0A0D0D0A
    INTERFACE_DESCRIPTION = 1
    OBSOLETE_PACKET = 2
    SIMPLE_PACKET = 3
    ENHANCED_PACKET = 6
    BYTE_ORDER_MAGIC = 0x1A2B3C4D
    OPTION_END = 0
    OPTION_TSRESOL = 9
    OPTION_TSOFFSET = 14
    DEFAULT_TSRESOL = 6

cdef inline int64_t timestamp_limit() noexcept nogil:
    """Timestamps stay within +-2**62 ns (about 146 years either side of 1970): beyond that, the
    differences the tracker takes could overflow."""
    return (<int64_t>1) << 62
