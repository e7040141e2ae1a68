"""Vectorised reads of fixed-width integers at arbitrary byte offsets of one buffer.

``ByteViews(buffer).be16[offsets]`` reads a big-endian 16-bit integer at every offset at once.
The views overlap (one element per byte, stride 1), so a gather costs one fancy index and no
per-field byte shuffling. Callers keep offsets inside the buffer; batches carry zero padding at
their end for exactly that reason.
"""

from __future__ import annotations

import numpy as np


def _overlapping(buffer: np.ndarray, dtype: str) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    return np.ndarray(shape=(max(len(buffer) - width + 1, 0),), dtype=dtype, buffer=buffer, strides=(1,))


class ByteViews:
    """Integer views of a uint8 buffer, one element starting at every byte."""

    __slots__ = ("u8", "be16", "be32", "be64", "le32", "le64")

    def __init__(self, buffer: np.ndarray):
        self.u8 = buffer
        self.be16 = _overlapping(buffer, ">u2")
        self.be32 = _overlapping(buffer, ">u4")
        self.be64 = _overlapping(buffer, ">u8")
        self.le32 = _overlapping(buffer, "<u4")
        self.le64 = _overlapping(buffer, "<u8")

    def u32(self, order: str) -> np.ndarray:
        """The 32-bit view in byte order ``"<"`` or ``">"``."""
        return self.le32 if order == "<" else self.be32
