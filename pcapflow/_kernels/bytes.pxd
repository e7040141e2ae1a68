# Declarations of src/bytes.h: byte-order reads, overflow-checked arithmetic and buffer growth for the kernels.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "src/bytes.h" nogil:
    uint16_t pf_be16(const uint8_t *p)
    uint16_t pf_le16(const uint8_t *p)
    uint32_t pf_be32(const uint8_t *p)
    uint32_t pf_le32(const uint8_t *p)
    uint64_t pf_be64(const uint8_t *p)
    uint16_t pf_u16(const uint8_t *p, int big)
    uint32_t pf_u32(const uint8_t *p, int big)
    uint64_t pf_u64(const uint8_t *p, int big)
    void pf_prefetch(const uint8_t *p)
    void pf_prefetch_far(const uint8_t *p, const uint8_t *end)
    int pf_add_overflows(int64_t a, int64_t b, int64_t *out)
    int pf_mul_overflows(int64_t a, int64_t b, int64_t *out)
    void *pf_zeroed(size_t count, size_t item)
    int pf_grow(void **buffer, size_t count, size_t item)
    int pf_units_to_ns(uint64_t units, int binary, int resolution, int64_t offset_ns, int64_t limit, int64_t *out)
