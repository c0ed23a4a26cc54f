"""Reading a wasm module's binary: its sections (the nightly compares them, a box's build reads
its data section). Only what those need; the format is the WebAssembly core spec's."""
from __future__ import annotations

from collections.abc import Iterator

SECTION_NAMES = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global",
                 7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount"}
DATA_SECTION = 11


def leb128(data: bytes, offset: int, signed: bool = False) -> tuple[int, int]:
    """The LEB128 number at offset, and the offset after it."""
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return (value - (1 << shift) if signed and byte & 0x40 else value), offset


def sections(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(section id, offset of its contents, their size) for each section, in order."""
    offset = 8  # after the magic number and the version
    while offset < len(data):
        size, start = leb128(data, offset + 1)
        yield data[offset], start, size
        offset = start + size
