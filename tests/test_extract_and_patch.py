"""Safe extraction and the patch mechanism, on archives and patches made here."""
import io
import tarfile

import pytest

from toolchain.errors import UserError
from toolchain.inputs.extract import extract_tar
from toolchain.inputs.source import Patch, prepare_tree


def make_tar(path, members):
    """members: (name, content-or-None, link-target-or-None); path may be a file object."""
    opened = tarfile.open(fileobj=path, mode="w:gz") if isinstance(path, io.BytesIO) else tarfile.open(path, "w:gz")
    with opened as tar:
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


def make_gem(path, members):
    """A .gem as rubygems writes it: a tar holding metadata.gz and the files in data.tar.gz."""
    data = io.BytesIO()
    make_tar(data, members)
    with tarfile.open(path, "w") as gem:
        for name, content in [("metadata.gz", b"--- !ruby/object:Gem::Specification\n"), ("data.tar.gz", data.getvalue())]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            gem.addfile(info, io.BytesIO(content))
    return path


def make_deb(path, members):
    """A .deb as dpkg-deb writes it: an ar archive of debian-binary, control.tar.xz, data.tar.xz."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        for name, content, _ in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    body = b"!<arch>\n"
    for name, content in [("debian-binary", b"2.0\n"), ("control.tar.xz", b"x"), ("data.tar.xz", data.getvalue())]:
        body += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode() + content
        body += b"\n" if len(content) % 2 else b""
    path.write_bytes(body)
    return path


def test_gem_unpacks_to_its_payload(tmp_path):
    gem = make_gem(tmp_path / "demo-1.0.gem", [("lib/demo.rb", b"module Demo; end\n", None),
                                               ("ext/demo/extconf.rb", b"require 'mkmf'\n", None)])
    root = prepare_tree(gem, [], tmp_path / "src")
    assert root == tmp_path / "src"
    assert (root / "lib" / "demo.rb").read_text() == "module Demo; end\n"
    assert (root / "ext" / "demo" / "extconf.rb").exists() and not (root / "metadata.gz").exists()


def test_deb_unpacks_its_data_and_the_recipe_root_selects_the_component(tmp_path):
    deb = make_deb(tmp_path / "ruby-demo_1.0-1_all.deb",
                   [("./usr/share/doc/ruby-demo/copyright", b"MIT\n", None),
                    ("./usr/lib/ruby/vendor_ruby/gems/demo-1.0/lib/demo.rb", b"module Demo; end\n", None)])
    root = prepare_tree(deb, [], tmp_path / "src", "usr/lib/ruby/vendor_ruby/gems/demo-1.0")
    assert (root / "lib" / "demo.rb").read_text() == "module Demo; end\n"
    with pytest.raises(UserError, match="'root' field") as error:
        prepare_tree(deb, [], tmp_path / "other", "usr/lib/ruby/gems/demo-9.9")
    assert "usr/lib/ruby/gems/demo-9.9" in str(error.value)


def test_unsafe_member_inside_a_gem_is_refused(tmp_path):
    gem = make_gem(tmp_path / "evil-1.0.gem", [("lib/ok.rb", b"", None), ("../../escaped.rb", b"evil", None)])
    with pytest.raises(UserError, match="Refused to unpack"):
        extract_tar(gem, tmp_path / "out" / "tree")
    assert not (tmp_path / "escaped.rb").exists() and not (tmp_path / "out" / "tree").exists()
