"""Reading dlib's serialisation format (dlib/serialize.h and the dnn objects built on it).

Facts of the format this reader relies on:
- an integer is one size byte (low nibble: number of value bytes, 0x80: negative)
  followed by that many little-endian bytes of the magnitude;
- a float or double is an integer mantissa and an integer exponent (value = m * 2**e;
  exponents 32000/32001/32002 mean +inf/-inf/nan);
- a string is an integer length and then its bytes;
- a dnn tensor is a version (1: dlib floats, 2: raw little-endian float32), then
  num_samples, k, nr, nc and the values; an alias_tensor is a version and four sizes;
- a matrix is -rows, -cols (negative in current dlib, positive in old files) then values.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from faceindex.errors import DlibFormatError

_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}

# Tensors larger than this are refused before allocating (a corrupt size field).
_MAX_ELEMENTS = 1 << 28


class DlibReader:
    """Sequential reader over the bytes of one dlib-serialised object."""

    def __init__(self, data: bytes, name: str = "model") -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.name = name

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(f"{self.name}: {what} (at byte {self.pos} of {len(self.data)})")

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated: needed {n} more bytes")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def at_end(self) -> bool:
        return self.pos == len(self.data)

    def integer(self) -> int:
        head = self._take(1)[0]
        size = head & 0x0F
        if head & 0x70 or size > 8:
            raise self.fail(f"bad integer header byte 0x{head:02x}")
        value = int.from_bytes(self._take(size), "little") if size else 0
        return -value if head & 0x80 else value

    def unsigned(self) -> int:
        value = self.integer()
        if value < 0:
            raise self.fail(f"expected a non-negative integer, got {value}")
        return value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        if not -32768 <= exponent <= 32767:
            raise self.fail(f"bad float exponent {exponent}")
        try:
            return math.ldexp(mantissa, exponent)
        except OverflowError:  # a mantissa of 64 bits times 2**32767: beyond any double
            raise self.fail(f"float {mantissa} * 2**{exponent} is out of range") from None

    def boolean(self) -> bool:
        ch = self._take(1)[0]
        if ch not in (ord("0"), ord("1")):
            raise self.fail(f"bad bool byte 0x{ch:02x}")
        return ch == ord("1")

    def string(self) -> str:
        n = self.unsigned()
        if n > 1 << 20:
            raise self.fail(f"implausible string length {n}")
        try:
            return bytes(self._take(n)).decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.fail("string is not UTF-8") from e

    def expect_string(self, *allowed: str) -> str:
        start = self.pos
        try:
            s = self.string()
        except DlibFormatError as e:
            self.pos = start
            raise self.fail(f"expected one of {allowed}") from e
        if s not in allowed:
            self.pos = start
            raise self.fail(f"expected one of {allowed}, found {s!r}")
        return s

    def version(self, allowed: tuple[int, ...], what: str) -> int:
        v = self.integer()
        if v not in allowed:
            raise self.fail(f"unexpected {what} version {v} (expected {allowed})")
        return v

    def tensor(self) -> npt.NDArray[np.float32]:
        version = self.version((1, 2), "tensor")
        shape = tuple(self.integer() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"negative tensor shape {shape}")
        count = math.prod(shape)
        if count > _MAX_ELEMENTS or max(shape) > _MAX_ELEMENTS:  # each side too: 2**60 x 0 is empty but unshapeable
            raise self.fail(f"implausible tensor shape {shape}")
        if version == 2:
            values = np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)
        else:
            values = np.array([self.real() for _ in range(count)], dtype=np.float32)
        return values.reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        self.version((1,), "alias_tensor")
        shape = (self.integer(), self.integer(), self.integer(), self.integer())
        if any(d < 0 for d in shape):
            raise self.fail(f"negative alias_tensor shape {shape}")
        return shape

    def float_matrix(self) -> npt.NDArray[np.float32]:
        rows, cols = abs(self.integer()), abs(self.integer())
        if rows * cols > _MAX_ELEMENTS or max(rows, cols) > _MAX_ELEMENTS:  # 2**60 x 0 holds nothing but cannot be shaped
            raise self.fail(f"implausible matrix shape {rows}x{cols}")
        return np.array([self.real() for _ in range(rows * cols)], dtype=np.float32).reshape(rows, cols)
