"""Toolchain providers, on this machine's real packages and files."""
import subprocess
from pathlib import Path

import pytest

from toolchain.compile import compiler_cache
from toolchain.compile.phases import build_environment
from toolchain.errors import UserError
from toolchain.inputs import debian, providers
from toolchain.paths import BUILD_ROOT_ENV, SOURCE_ROOT_ENV


def test_unknown_provider_is_a_user_error():
    with pytest.raises(UserError, match="wasi-sdk, debian, path"):
        providers.resolve("homebrew")


def test_path_provider_requires_a_real_sdk(monkeypatch, tmp_path):
    monkeypatch.setenv("WASI_SDK_PATH", str(tmp_path))
    with pytest.raises(UserError, match="WASI_SDK_PATH"):
        providers.resolve("path")


def test_path_provider_uses_an_existing_sdk(private_cache, monkeypatch):
    sdk = providers.resolve("debian")  # a wasi-sdk-shaped directory, as a user's SDK would be
    monkeypatch.setenv("WASI_SDK_PATH", str(sdk.root))
    monkeypatch.setenv("WASMOPT", str(sdk.wasm_opt))
    chosen = providers.resolve("path")
    assert chosen.provider == "path" and chosen.root == sdk.root.resolve() and chosen.cc.parent == chosen.driver
    assert "clang version 19" in chosen.identity and "wasm-opt version" in chosen.identity


def test_auto_prefers_a_cached_wasi_sdk(private_cache):
    (private_cache / "toolchains").mkdir(parents=True)
    (private_cache / "toolchains" / "wasi-sdk-25.0-52640dde1359.complete").write_text("x")
    assert providers.choose_provider()[0] == "wasi-sdk"


def test_auto_takes_wasi_sdk_path_before_the_network(private_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("WASI_SDK_PATH", str(tmp_path))
    provider, reason = providers.choose_provider()
    assert (provider, reason) == ("path", "WASI_SDK_PATH is set")


def test_debian_provider_builds_a_wasm_with_a_private_sysroot(private_cache, tmp_path):
    toolchain = providers.resolve("debian")
    assert toolchain.identity.startswith("debian: clang-19=")
    assert (toolchain.sysroot / "include" / "stdio.h").exists()
    source = tmp_path / "hello.c"
    source.write_text('#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n')
    output = tmp_path / "hello.wasm"
    subprocess.run([str(toolchain.cc), "-O2", str(source), "-o", str(output)], check=True)
    assert output.read_bytes()[:4] == b"\0asm"
    # the auto provider now finds it prepared, without probing anything
    assert providers.choose_provider() == ("debian", "the debian toolchain is already prepared in the cache")


def test_glibc_headers_do_not_leak_into_the_sysroot(private_cache, tmp_path):
    toolchain = providers.resolve("debian")
    probe = tmp_path / "probe.c"
    probe.write_text("#include <gnu/stubs.h>\n")  # exists only in glibc's headers
    result = subprocess.run([str(toolchain.cc), "-c", str(probe), "-o", str(tmp_path / "p.o")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "gnu/stubs.h" in result.stderr


DEB822 = """Types: deb
URIs: http://archive.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://archive.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_stanzas_are_parsed():
    stanzas = debian._deb822_stanzas(DEB822)
    assert [s["suites"] for s in stanzas] == ["bookworm bookworm-updates", "bookworm-security"]
    assert stanzas[0]["signed-by"] == "/usr/share/keyrings/debian-archive-keyring.gpg"


def test_one_line_sources_are_parsed():
    text = ("# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n"
            "deb-src http://m.example/debian bookworm main\n")
    assert debian._one_line_entries(text) == [
        (["deb"], "http://m.example/debian", "bookworm", "/k.gpg"),
        (["deb-src"], "http://m.example/debian", "bookworm", None),
    ]


def test_deb_src_config_is_derived_from_this_machines_sources():
    config = debian.deb_src_config("trixie")
    archive = debian.machine_archive()
    assert config.startswith("Types: deb-src\n")
    assert f"URIs: {archive.uri}\n" in config and "Suites: trixie\n" in config


def demo_build(root: Path, key: str) -> Path:
    """A keyed build directory under root, its source tree including a header of another build."""
    tree = root / f"demo-{key}" / "src" / "demo-1.0"
    (root / "lib-other" / "include").mkdir(parents=True, exist_ok=True)
    tree.mkdir(parents=True)
    (root / "lib-other" / "include" / "other.h").write_text("static const char *other = __FILE__;\n")
    # includes itself by __FILE__, as Ruby's debug_counter.h does: the mapped name must resolve
    (tree / "self.h").write_text("#ifndef ONCE\n#define ONCE\n#include __FILE__\n#else\nint twice;\n#endif\n")
    (tree / "where.c").write_text('#include <assert.h>\n#include "self.h"\n#include "other.h"\n'
                                  "const char *where = __FILE__;\n"
                                  "const char *use(int x) { assert(x); return other; }\n")
    return tree


def compile_demo(toolchain: providers.Toolchain, root: Path, tree: Path, output: Path, **cache: str) -> None:
    """Compile where.c as a build would: from its obj/ directory, every path absolute."""
    env = {**build_environment(toolchain), BUILD_ROOT_ENV: str(root), SOURCE_ROOT_ENV: str(tree), **cache}
    obj = tree.parent.parent / "obj"
    obj.mkdir(exist_ok=True)
    subprocess.run(["clang", "-I", str(root / "lib-other" / "include"), "-c", str(tree / "where.c"),
                    "-o", str(output)], check=True, env=env, cwd=obj)


def test_driver_names_the_build_root_and_sdk_by_fixed_paths(private_cache, tmp_path):
    toolchain = providers.resolve("debian")
    root = tmp_path / "some" / "build-root"
    output = tmp_path / "where.o"
    compile_demo(toolchain, root, demo_build(root, "a"), output)
    data = output.read_bytes()
    assert b"where.c" in data and b"demo-1.0/where.c" not in data  # the build's own tree is "."
    assert b"/build/lib-other/include/other.h" in data
    assert str(tmp_path).encode() not in data and str(private_cache).encode() not in data
    assert "driver " in toolchain.identity


def test_compiler_cache_serves_another_key_and_root_with_the_same_bytes(private_cache, tmp_path):
    toolchain = providers.resolve("debian")
    objects, counts = [], []
    for root, key in ((tmp_path / "first", "a"), (tmp_path / "second" / "root", "b")):
        tree = demo_build(root, key)
        objects.append(tmp_path / f"uncached-{key}.o")
        compile_demo(toolchain, root, tree, objects[-1])  # no CCACHE_DIR: the driver compiles directly
        before = compiler_cache.counters()
        objects.append(tmp_path / f"cached-{key}.o")
        compile_demo(toolchain, root, tree, objects[-1], **compiler_cache.environment(root, toolchain.identity))
        counts.append(compiler_cache.counters() - before)
    assert counts[0]["cache_miss"] == 1 and compiler_cache.hits(counts[1]) == 1, counts
    assert len({path.read_bytes() for path in objects}) == 1, "the cache changed the object"
    assert b"/build/lib-other/include/other.h" in objects[-1].read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(compiler_cache.COMPILER_CACHE_ENV, "off")
        assert compiler_cache.environment(tmp_path, toolchain.identity) == {}
