# The DNS answers reader, for the flow table, which reads the bytes where its pools keep them.

from libc.stdint cimport uint8_t

cdef list answers_in(const uint8_t *d, Py_ssize_t size, bint tcp)
