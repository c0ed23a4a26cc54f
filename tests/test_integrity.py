"""An artifact's files against its SHA256SUMS: what counts as altered, and what a check costs."""
from __future__ import annotations

import os
from pathlib import Path

from toolchain.digests import sha256_file
from toolchain.publish.integrity import altered_files, stamp_path


def _published(directory: Path, a_while_ago: bool = True) -> Path:
    (directory / "root/lib").mkdir(parents=True)
    (directory / "ruby.wasm").write_bytes(b"\0asm\1\0\0\0")
    (directory / "root/lib/set.rb").write_text("class Set; end\n")
    (directory / "root/lib/link.rb").symlink_to("set.rb")  # links are not listed, nor checked
    files = ["ruby.wasm", "root/lib/set.rb"]
    (directory / "SHA256SUMS").write_text("".join(f"{sha256_file(directory / f)}  {f}\n" for f in files))
    for name in files if a_while_ago else []:
        os.utime(directory / name, ns=(10**18, 10**18))
    return directory


def test_an_intact_artifact_is_stamped_and_a_touched_file_is_not_altered(tmp_path):
    artifact = _published(tmp_path / "ruby-3.3-full")
    assert altered_files(artifact) == [] and stamp_path(artifact).exists()
    assert stamp_path(artifact).parent == tmp_path  # beside the artifact, not in what is released
    os.utime(artifact / "root/lib/set.rb", ns=(1, 1))  # same bytes, another mtime: hashed, found equal
    assert altered_files(artifact) == []


def test_edited_added_and_missing_files_are_altered(tmp_path):
    artifact = _published(tmp_path / "ruby-3.3-full")
    altered_files(artifact)
    with (artifact / "root/lib/set.rb").open("a") as edited:
        edited.write("# one more line\n")
    (artifact / "root/lib/extra.rb").write_text("")
    (artifact / "ruby.wasm").unlink()
    assert altered_files(artifact) == ["root/lib/extra.rb", "root/lib/set.rb", "ruby.wasm"]


def test_an_edit_that_keeps_size_and_mtime_is_only_found_without_the_stamp(tmp_path):
    """The price of a cheap check, stated: the stamp trusts an unchanged size and mtime."""
    artifact = _published(tmp_path / "ruby-3.3-full")
    altered_files(artifact)
    script = artifact / "root/lib/set.rb"
    status = script.stat()
    script.write_text("class Bet; end\n")
    os.utime(script, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert altered_files(artifact) == []
    stamp_path(artifact).unlink()
    assert altered_files(artifact) == ["root/lib/set.rb"]


def test_a_file_changed_within_a_second_of_the_check_is_hashed_again(tmp_path):
    """An edit in place within the same mtime tick as the check keeps size and mtime; so a file
    that changed that recently is left out of the stamp, as git treats racily clean files."""
    artifact = _published(tmp_path / "ruby-3.3-full", a_while_ago=False)
    assert altered_files(artifact) == []
    script = artifact / "root/lib/set.rb"
    status = script.stat()
    script.write_text("class Bet; end\n")
    os.utime(script, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert altered_files(artifact) == ["root/lib/set.rb"]
