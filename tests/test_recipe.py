import subprocess
from pathlib import Path

import pytest

from toolchain.errors import UserError
from toolchain.inputs import npm, recipe

GOOD = """
name = "demo"
kind = "ruby"
version = "1.2.3"
description = "a demo"
[[source]]
url = "https://example.invalid/demo-1.2.3.tar.gz"
sha256 = "{sha}"
"""
SHA = "a" * 64


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demo.toml"
    path.write_text(text)
    return path


def test_every_shipped_recipe_loads():
    names = sorted(p.stem for p in recipe.RECIPES_DIR.glob("*.toml"))
    assert {"ruby-3.3", "wasi-sdk", "binaryen", "zlib", "libyaml", "openssl"} <= set(names)
    for name in names:
        loaded = recipe.load(name)
        assert loaded.sources and all(len(s.sha256) == 64 for s in loaded.sources)


def test_ruby_recipe_has_upstream_then_debian_source():
    ruby = recipe.ruby_recipe("3.3")
    assert ruby.version == "3.3.8"
    assert ruby.sources[0].filename == "ruby-3.3.8.tar.xz"
    assert ruby.sources[1].debian.package == "ruby3.3"
    assert ruby.sources[1].filename == "ruby3.3_3.3.8.orig.tar.xz"
    assert ruby.profiles["minimal"].extensions == ("monitor",)
    assert ruby.profiles["minimal"].suites == ("basictest", "bootstraptest", "endurance")
    assert ruby.profiles["full"].suites is None  # all suites
    assert "json/parser" in ruby.profiles["default"].extensions


def test_full_profile_extends_default_with_the_c_library_extensions():
    profiles = recipe.ruby_recipe("3.3").profiles
    assert profiles["full"].extensions == profiles["default"].extensions + ("zlib", "psych", "openssl")
    assert profiles["full"].libraries == ("zlib", "libyaml", "openssl")
    assert profiles["default"].libraries == ()


def test_library_recipes_say_how_to_build_and_how_ruby_finds_them():
    for name, system in [("zlib", "configure"), ("libyaml", "cmake"), ("openssl", "configure")]:
        library = recipe.load_kind(name, "library")
        assert library.build.system == system
        assert any("{prefix}" in arg for arg in library.ruby_configure)
        assert [s.debian.package for s in library.sources if s.debian] == [name]


def test_valid_recipe_parses(tmp_path):
    loaded = recipe.load_recipe(write(tmp_path, GOOD.format(sha=SHA)))
    assert (loaded.name, loaded.version, loaded.sources[0].filename) == ("demo", "1.2.3", "demo-1.2.3.tar.gz")


@pytest.mark.parametrize("text, field", [
    ('colour = "red"\n' + GOOD.format(sha=SHA), "'colour'"),
    (GOOD.format(sha=SHA).replace('version = "1.2.3"', 'version = "one.two"'), "'version'"),
    (GOOD.format(sha="abc123"), "'source[0].sha256'"),
    (GOOD.format(sha=SHA).replace(f'sha256 = "{SHA}"', ""), "'source[0].sha256'"),
    (GOOD.format(sha=SHA).replace('kind = "ruby"', 'kind = "plugin"'), "'kind'"),
    (GOOD.format(sha=SHA).replace("[[source]]", "[[source]]\nmirror = 1"), "'source[0].mirror'"),
    (GOOD.format(sha=SHA).replace('url = "https://example.invalid/demo-1.2.3.tar.gz"', ""), "'source[0].url'"),
    (GOOD.format(sha=SHA).replace('kind = "ruby"', 'kind = "library"'), "'build'"),
    (GOOD.format(sha=SHA) + '[build]\nsystem = "configure"\n', "'build'"),
    (GOOD.format(sha=SHA).replace('kind = "ruby"', 'kind = "library"') + '[build]\nsystem = "meson"\n',
     "'build.system'"),
    (GOOD.format(sha=SHA).replace('kind = "ruby"', 'kind = "library"') + '[build]\nsystem = "cmake"\nargs = [1]\n',
     "'build.args'"),
    (GOOD.format(sha=SHA) + '[profiles.a]\nextensions = "json"\n', "'profiles.a.extensions'"),
    (GOOD.format(sha=SHA) + '[profiles.a]\nbase = "b"\n', "'profiles.a.base'"),
    (GOOD.format(sha=SHA) + '[profiles.a]\nexts = []\n', "'profiles.a.exts'"),
    (GOOD.format(sha=SHA) + '[profiles.a]\nextensions = []\n[[box]]\nprofile = "b"\n', "'box[0].profile'"),
    (GOOD.format(sha=SHA) + '[profiles.a]\nextensions = []\n[[box]]\nprofile = "a"\ngems = "x"\n', "'box[0].gems'"),
    (GOOD.format(sha=SHA).replace('url = "https://example.invalid/demo-1.2.3.tar.gz"', 'npm = { package = "demo" }'),
     "'source[0].npm.version'"),
])
def test_bad_recipe_names_file_and_field(tmp_path, text, field):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as error:
        recipe.load_recipe(path)
    assert str(path) in str(error.value)
    assert field in str(error.value)


def test_invalid_toml_names_file(tmp_path):
    path = write(tmp_path, "name = \n")
    with pytest.raises(UserError, match="not valid TOML") as error:
        recipe.load_recipe(path)
    assert str(path) in str(error.value)


def test_unknown_recipe_lists_known_ones():
    with pytest.raises(UserError, match="ruby-3.3"):
        recipe.ruby_recipe("9.9")


def test_an_npm_source_is_fetched_from_the_registry_the_machines_npm_names():
    wizer = recipe.load("wizer").sources[0]
    registry = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True,
                              check=True).stdout.strip().rstrip("/")
    assert wizer.filename == "wizer-linux-x64-11.0.3.tgz"
    assert npm.tarball_url(wizer.npm) == f"{registry}/@bytecodealliance/wizer-linux-x64/-/wizer-linux-x64-11.0.3.tgz"


def test_the_series_recipe_names_the_nightlys_boxes():
    assert recipe.ruby_recipe("3.3").boxes == (recipe.BoxSpec("full"), recipe.BoxSpec("full", ("nokogiri", "bcrypt")))
