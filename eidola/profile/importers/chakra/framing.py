"""Length-delimited protobuf streams: the framing of Chakra ET files.

An ET file is a sequence of messages, each preceded by its length as an unsigned varint
(at most 5 bytes for the 32-bit lengths Chakra writes); the first message is GlobalMetadata,
every later one a Node. Files may be gzip-compressed (recognised by content).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from eidola.errors import EidolaError
from eidola.profile.importers._common import read_maybe_gzip

MAX_MESSAGE_BYTES = 1 << 30   # a length beyond this is a corrupt prefix, not a node


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position); raises ValueError on a truncated or over-long varint."""
    shift = value = 0
    for i in range(10):
        if pos + i >= len(data):
            raise ValueError("truncated length prefix")
        b = data[pos + i]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos + i + 1
        shift += 7
    raise ValueError("length prefix longer than 10 bytes")


def encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_frames(path: Path) -> Iterator[tuple[int, bytes]]:
    """(byte offset, message bytes) for each message of `path`."""
    data = read_maybe_gzip(path)
    pos = 0
    while pos < len(data):
        start = pos
        try:
            length, pos = _read_varint(data, pos)
        except ValueError as exc:
            raise EidolaError(f"byte {start}: {exc}: not a Chakra ET (length-delimited protobuf)",
                              path=path) from None
        if length > MAX_MESSAGE_BYTES or pos + length > len(data):
            raise EidolaError(f"byte {start}: message of {length} bytes runs past the end of the "
                              f"file ({len(data)} bytes): truncated, or not a Chakra ET", path=path)
        yield start, data[pos:pos + length]
        pos += length


def write_frames(path: Path, messages: list[bytes]) -> Path:
    """Write length-delimited `messages` to `path` atomically (temp file + rename)."""
    from eidola.results import atomic_writer  # results imports the profile package: late

    with atomic_writer(Path(path)) as f:
        for m in messages:
            f.write(encode_varint(len(m)))
            f.write(m)
    return Path(path)
