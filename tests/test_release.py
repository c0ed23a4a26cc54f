"""Release files: deterministic tarballs, checksums, and the comparison of two builds, on files
made here and wasm modules built with the real toolchain."""
from __future__ import annotations

import gzip
import os
import subprocess
import tarfile
from pathlib import Path

from toolchain.compile.phases import build_environment
from toolchain.inputs import providers
from toolchain.publish.release import compare_trees, deterministic_tarball, sha256sums, wasm_sections

EPOCH = 1744156800  # 2025-04-09


def make_tree(root: Path, mtime: int, mode: int) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "b.txt").write_text("bee\n")
    (root / "sub" / "a.txt").write_text("ay\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "b.txt").chmod(mode)
    for path in [root, *root.rglob("*")]:
        os.utime(path, (mtime, mtime))
    return root


def test_tarball_depends_only_on_contents_names_and_exec_bits(tmp_path):
    first = make_tree(tmp_path / "one" / "artifact", 1_000_000, 0o600)
    second = make_tree(tmp_path / "two" / "artifact", 2_000_000, 0o664)
    deterministic_tarball(first, tmp_path / "1.tar.gz", EPOCH)
    deterministic_tarball(second, tmp_path / "2.tar.gz", EPOCH)
    assert (tmp_path / "1.tar.gz").read_bytes() == (tmp_path / "2.tar.gz").read_bytes()
    assert gzip.open(tmp_path / "1.tar.gz").read()  # a valid gzip stream
    with tarfile.open(tmp_path / "1.tar.gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["artifact", "artifact/b.txt", "artifact/run.sh", "artifact/sub",
                                         "artifact/sub/a.txt"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(EPOCH, 0, 0, "", "")}
    assert {m.name: oct(m.mode) for m in members if m.isfile()} == {
        "artifact/b.txt": "0o644", "artifact/run.sh": "0o755", "artifact/sub/a.txt": "0o644"}


def test_sha256sums_lists_every_file_sorted(tmp_path):
    tree = make_tree(tmp_path / "t", EPOCH, 0o644)
    lines = sha256sums(tree).splitlines()
    assert [line.split("  ")[1] for line in lines] == ["b.txt", "run.sh", "sub/a.txt"]
    assert all(len(line.split("  ")[0]) == 64 for line in lines)


def build_wasm(tmp_path: Path, name: str, greeting: str) -> Path:
    toolchain = providers.resolve("auto", quiet=True)
    source = tmp_path / f"{name}.c"
    source.write_text(f'#include <stdio.h>\nint main(void) {{ puts("{greeting}"); return 0; }}\n')
    output = tmp_path / name / "ruby.wasm"
    output.parent.mkdir()
    subprocess.run(["clang", "-Os", str(source), "-o", str(output)], check=True, env=build_environment(toolchain))
    return output


def test_comparison_names_the_differing_files_and_wasm_sections(tmp_path):
    first = build_wasm(tmp_path, "first", "hello").parent
    second = build_wasm(tmp_path, "second", "hullo").parent
    (first / "root").mkdir()
    (second / "root").mkdir()
    (first / "root" / "same.rb").write_text("p 1\n")
    (second / "root" / "same.rb").write_text("p 1\n")
    (second / "root" / "extra.rb").write_text("p 2\n")
    report = {entry["file"]: entry for entry in compare_trees(first, second)}
    assert set(report) == {"ruby.wasm", "root/extra.rb"}
    assert report["ruby.wasm"]["sections"] == ["data"]  # only the string differs
    assert report["root/extra.rb"]["first"] is None
    names = [name for name, _ in wasm_sections((first / "ruby.wasm").read_bytes())]
    assert {"type", "function", "code", "data"} <= set(names)
