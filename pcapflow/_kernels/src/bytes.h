/* Fixed-width reads at a pointer, in network (big-endian) or little-endian byte order.
 * Callers check that the bytes are inside the record before reading: these never do. */
#ifndef PCAPFLOW_BYTES_H
#define PCAPFLOW_BYTES_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint16_t pf_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint16_t pf_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t pf_be32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return __builtin_bswap32(v); }
static inline uint32_t pf_le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t pf_be64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return __builtin_bswap64(v); }
static inline uint64_t pf_le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint16_t pf_u16(const uint8_t *p, int big) { return big ? pf_be16(p) : pf_le16(p); }
static inline uint32_t pf_u32(const uint8_t *p, int big) { return big ? pf_be32(p) : pf_le32(p); }
static inline uint64_t pf_u64(const uint8_t *p, int big) { return big ? pf_be64(p) : pf_le64(p); }

/* Ask for the cache lines of bytes about to be read (records ahead of the one being decoded). */
static inline void pf_prefetch(const uint8_t *p) { __builtin_prefetch(p); __builtin_prefetch(p + 64); }
/* Ask for the bytes 2 KiB ahead of a walk down a buffer (not past its end), so that the records
 * after the current one are on their way while it is read. */
static inline void pf_prefetch_far(const uint8_t *p, const uint8_t *end) {
    if (p + 2048 + 64 <= end) { __builtin_prefetch(p + 2048); __builtin_prefetch(p + 2048 + 64); }
}

/* a + b and a * b that report int64 overflow instead of wrapping */
static inline int pf_add_overflows(int64_t a, int64_t b, int64_t *out) { return __builtin_add_overflow(a, b, out); }
static inline int pf_mul_overflows(int64_t a, int64_t b, int64_t *out) { return __builtin_mul_overflow(a, b, out); }

/* Nanoseconds of a count of clock units (2**-resolution s when binary, else 10**-resolution s,
 * resolution at most 63 or 19) plus an offset, in exact 128-bit arithmetic. Returns 1, with *out
 * clamped to +-limit, when the result lies beyond +-limit. */
static inline int pf_units_to_ns(uint64_t units, int binary, int resolution, int64_t offset_ns,
                                 int64_t limit, int64_t *out) {
    __int128 ns;
    if (binary) {
        ns = (__int128)(((unsigned __int128)units * 1000000000u) >> resolution);
    } else if (resolution <= 9) {
        __int128 scale = 1;
        for (int i = resolution; i < 9; i++) scale *= 10;
        ns = (__int128)units * scale;
    } else {
        unsigned __int128 scale = 1;
        for (int i = 9; i < resolution; i++) scale *= 10;
        ns = (__int128)((unsigned __int128)units / scale);
    }
    ns += offset_ns;
    if (ns > limit) { *out = limit; return 1; }
    if (ns < -(__int128)limit) { *out = -limit; return 1; }
    *out = (int64_t)ns;
    return 0;
}
/* count * item zeroed bytes, or NULL. Not calloc: its fresh pages map the shared zero page, and
 * a hash table reads a slot before it writes it, so that each first write would then replace the
 * mapping and flush the TLB of every core the process runs on. Written at once, they do not. */
static inline void *pf_zeroed(size_t count, size_t item) {
    size_t bytes;
    void *memory;
    if (__builtin_mul_overflow(count, item, &bytes)) return NULL;
    memory = malloc(bytes ? bytes : 1);
    if (memory != NULL) memset(memory, 0, bytes);
    return memory;
}

/* Resize *buffer to count items of item bytes each: 0, or -1 with the buffer unchanged when the
 * size overflows or memory runs out. */
static inline int pf_grow(void **buffer, size_t count, size_t item) {
    size_t bytes;
    void *grown;
    if (__builtin_mul_overflow(count, item, &bytes)) return -1;
    grown = realloc(*buffer, bytes);
    if (grown == NULL) return -1;
    *buffer = grown;
    return 0;
}

#endif
