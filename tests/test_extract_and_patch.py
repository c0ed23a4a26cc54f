"""Safe extraction and the patch mechanism, on archives and patches made here."""
import io
import tarfile

import pytest

from toolchain.errors import UserError
from toolchain.extract import extract_tar
from toolchain.source import Patch, prepare_tree


def make_tar(path, members):
    """members: (name, content-or-None, link-target-or-None)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


@pytest.mark.parametrize("members", [
    [("pkg/ok.txt", b"ok", None), ("../escaped.txt", b"evil", None)],
    [("/etc/absolute-evil.txt", b"evil", None)],
    [("pkg/link", None, "/etc/passwd")],
    [("pkg/link", None, "../../outside")],
], ids=["dotdot", "absolute", "absolute-link", "escaping-link"])
def test_unsafe_archive_is_refused_and_nothing_is_left(tmp_path, members):
    archive = make_tar(tmp_path / "evil.tar.gz", members)
    target = tmp_path / "out" / "tree"
    with pytest.raises(UserError, match="Refused to unpack") as error:
        extract_tar(archive, target)
    assert str(archive) in str(error.value)
    assert not target.exists()
    assert not (tmp_path / "out" / "escaped.txt").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_safe_archive_extracts(tmp_path):
    archive = make_tar(tmp_path / "good.tar.gz", [("pkg/a.txt", b"alpha\n", None),
                                                  ("pkg/sub/link", None, "../a.txt")])
    extract_tar(archive, tmp_path / "tree")
    assert (tmp_path / "tree" / "pkg" / "sub" / "link").read_text() == "alpha\n"


SOURCE = [("demo-1.0/greeting.c", b'const char *greeting = "hello";\nint answer = 41;\n', None)]
GOOD_PATCH = """--- a/greeting.c
+++ b/greeting.c
@@ -1,2 +1,2 @@
 const char *greeting = "hello";
-int answer = 41;
+int answer = 42;
"""


def test_patches_apply_in_order(tmp_path):
    archive = make_tar(tmp_path / "demo.tar.gz", SOURCE)
    first = tmp_path / "0001-answer.patch"
    first.write_text(GOOD_PATCH)
    second = tmp_path / "0002-greeting.patch"
    second.write_text(GOOD_PATCH.replace("-int answer = 41;\n+int answer = 42;",
                                         "-int answer = 42;\n+int answer = 43;"))
    root = prepare_tree(archive, [Patch(first), Patch(second)], tmp_path / "src")
    assert "int answer = 43;" in (root / "greeting.c").read_text()


def test_patch_that_does_not_apply_names_patch_and_hunk(tmp_path):
    archive = make_tar(tmp_path / "demo.tar.gz", SOURCE)
    bad = tmp_path / "0001-stale.patch"
    bad.write_text(GOOD_PATCH.replace("int answer = 41;", "int answer = 7;"))
    with pytest.raises(UserError) as error:
        prepare_tree(archive, [Patch(bad)], tmp_path / "src")
    assert str(bad) in str(error.value)
    assert "Hunk #1 FAILED" in str(error.value)
