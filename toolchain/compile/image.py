"""A box's file system image: a directory tree packed into the layout csrc/box_vfs.c reads.

Little-endian throughout. A header ("RBOXVFS1", entry count, offsets of the children table,
the names and the data, the one mtime every entry reports), then one 32-byte record per entry
(name offset and length, kind, parent, data offset or first child, size or child count), the
children of each directory together and sorted by name (the VFS looks names up by binary
search), the names, and the files' bytes. Entry 0 is the root. Everything is in a fixed order
and every entry has the same mtime, so the same tree always packs to the same bytes.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"RBOXVFS1"
HEADER = struct.Struct("<8sIIIIQ")
ENTRY = struct.Struct("<IIIIQQ")
KIND_DIR, KIND_FILE = 3, 4


@dataclass
class _Node:
    name: bytes
    parent: int
    path: Path | None = None  # a file's host path; None for a directory
    children: list[int] = field(default_factory=list)


def _walk(root: Path) -> list[_Node]:
    """Every directory and regular file under root, each directory's children sorted by name
    (as bytes, the order the VFS compares in). Symbolic links are refused: the image has none."""
    nodes = [_Node(b"", 0)]
    pending = [(root, 0)]
    while pending:
        directory, index = pending.pop()
        for path in sorted(directory.iterdir(), key=lambda p: p.name.encode()):
            if path.is_symlink():
                raise ValueError(f"{path} is a symbolic link; a box's image holds files and directories only")
            nodes.append(_Node(path.name.encode(), index, path if path.is_file() else None))
            nodes[index].children.append(len(nodes) - 1)
            if path.is_dir():
                pending.append((path, len(nodes) - 1))
    return nodes


def pack(root: Path, mtime_ns: int) -> bytes:
    """The image of the tree under root, every entry reporting mtime_ns."""
    nodes = _walk(root)
    names, data, children = bytearray(), bytearray(), []
    records = []
    for node in nodes:
        name_offset = len(names)
        names += node.name
        if node.path is None:
            records.append((name_offset, len(node.name), KIND_DIR, node.parent, len(children), len(node.children)))
            children += node.children
        else:
            content = node.path.read_bytes()
            records.append((name_offset, len(node.name), KIND_FILE, node.parent, len(data), len(content)))
            data += content
    children_offset = HEADER.size + ENTRY.size * len(records)
    names_offset = children_offset + 4 * len(children)
    data_offset = names_offset + len(names)
    data_offset += -data_offset % 8
    image = bytearray(HEADER.pack(MAGIC, len(records), children_offset, names_offset, data_offset, mtime_ns))
    for record in records:
        image += ENTRY.pack(*record)
    image += struct.pack(f"<{len(children)}I", *children)
    image += names
    image += bytes(data_offset - len(image))
    image += data
    return bytes(image)


def tree_digest(root: Path) -> str:
    """sha256 over every file's path and contents under root, in a fixed order: what a packed
    tree's build key records."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
