"""Erosion of binary masks by a square, on rows packed 64 pixels to a machine word.

The fast path of :func:`segedu.metrics.boundary_iou` (the readable path, :func:`boundary_band`,
erodes one byte per pixel with SciPy's minimum filter). A row of ``W`` pixels becomes
``ceil(W / 64)`` ``uint64`` words, pixel ``x`` at bit ``x % 64`` of word ``x // 64`` (NumPy's
``packbits(..., bitorder="little")``), so one AND handles 64 pixels:

- along a row, "pixel ``x + s``" is the row shifted down by ``s`` bits, carried across words;
- down the columns, "row ``y + s``" is a slice of the array.

An erosion by a ``(2d+1) × (2d+1)`` square is separable (rows, then columns); each 1-D erosion by a
window of ``w = 2d+1`` pixels is found by doubling: ``A_1 = m``, ``A_2s = A_s & (A_s shifted by
s)``, then ``A_w = A_a & (A_a shifted by w - a)`` for the largest power of two ``a <= w``, and is
centred by a shift of ``d``. Pixels shifted in from outside the image are 0 (background), as in
the authors' code, which pads the mask with one empty pixel before eroding.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pack_rows", "erode_packed", "count_bits"]

_WORD = 64
# bits set in each byte value, for NumPy releases without np.bitwise_count (before 2.0)
_BYTE_BITS = np.array([bin(v).count("1") for v in range(256)], dtype=np.int64)


def pack_rows(masks: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` bool masks as ``(N, H, ceil(W / 64))`` ``uint64`` words (unused bits 0)."""
    n, h, w = masks.shape
    words = -(-w // _WORD)
    packed = np.packbits(masks, axis=2, bitorder="little")  # (N, H, ceil(W / 8)) bytes
    padded = np.zeros((n, h, words * 8), dtype=np.uint8)
    padded[:, :, : packed.shape[2]] = packed
    return padded.view("<u8").astype(np.uint64, copy=False)


def _shift_down(bits: np.ndarray, s: int) -> np.ndarray:
    """Rows (last axis: words) whose pixel ``x`` is pixel ``x + s`` of ``bits`` (0 past the end)."""
    q, r = divmod(s, _WORD)
    words = bits.shape[-1]
    out = np.zeros_like(bits)
    if q >= words:
        return out
    src = bits[..., q:]
    if r == 0:
        out[..., : words - q] = src
        return out
    out[..., : words - q] = src >> np.uint64(r)
    out[..., : words - q - 1] |= src[..., 1:] << np.uint64(_WORD - r)
    return out


def _shift_up(bits: np.ndarray, s: int) -> np.ndarray:
    """Rows whose pixel ``x`` is pixel ``x - s`` of ``bits`` (0 before the start)."""
    q, r = divmod(s, _WORD)
    words = bits.shape[-1]
    out = np.zeros_like(bits)
    if q >= words:
        return out
    src = bits[..., : words - q]
    if r == 0:
        out[..., q:] = src
        return out
    out[..., q:] = src << np.uint64(r)
    out[..., q + 1 :] |= src[..., :-1] >> np.uint64(_WORD - r)
    return out


def _erode_rows(bits: np.ndarray, d: int) -> np.ndarray:
    """Each row eroded by a window of ``2d + 1`` pixels centred on the pixel."""
    w, s, a = 2 * d + 1, 1, bits
    while 2 * s <= w:  # a[x] = AND of pixels x .. x + 2s - 1
        a = a & _shift_down(a, s)
        s *= 2
    if s < w:  # overlapping windows of s pixels cover w
        a = a & _shift_down(a, w - s)
    return _shift_up(a, d)  # centre: pixel x - d .. x + d


def _erode_columns(bits: np.ndarray, d: int) -> np.ndarray:
    """Each column eroded by a window of ``2d + 1`` rows centred on the row (0 outside)."""
    n, h, words = bits.shape
    w = 2 * d + 1
    a = np.zeros((n, h + 2 * d, words), dtype=bits.dtype)  # d empty rows above and below
    a[:, d : d + h] = bits
    s = 1
    while 2 * s <= w:
        a = a[:, :-s] & a[:, s:]
        s *= 2
    if s < w:
        a = a[:, : h] & a[:, w - s : w - s + h]
    return a[:, :h]


def erode_packed(bits: np.ndarray, width: int) -> np.ndarray:
    """Packed masks ``(N, H, words)`` after ``width`` erosions by a 3 × 3 square (one erosion by a
    ``(2 width + 1)`` square), with the outside of the image as background."""
    return _erode_columns(_erode_rows(bits, width), width)


def count_bits(bits: np.ndarray) -> np.ndarray:
    """Set bits of each packed mask ``(N, H, words)``: an ``(N,)`` int64 array."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(bits).sum(axis=(1, 2), dtype=np.int64)
    as_bytes = bits.reshape(len(bits), -1).view(np.uint8)
    return _BYTE_BITS[as_bytes].sum(axis=1)
