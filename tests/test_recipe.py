from pathlib import Path

import pytest

from toolchain import recipe
from toolchain.errors import UserError

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
    assert {"ruby-3.3", "wasi-sdk", "binaryen"} <= set(names)
    for name in names:
        loaded = recipe.load(name)
        assert loaded.sources and all(len(s.sha256) == 64 for s in loaded.sources)


def test_ruby_recipe_has_upstream_then_debian_source():
    ruby = recipe.ruby_recipe("3.3")
    assert ruby.version == "3.3.8"
    assert ruby.sources[0].filename == "ruby-3.3.8.tar.xz"
    assert ruby.sources[1].debian.package == "ruby3.3"
    assert ruby.sources[1].filename == "ruby3.3_3.3.8.orig.tar.xz"
    assert ruby.profiles["minimal"] == ()
    assert "json/parser" in ruby.profiles["default"]


def test_valid_recipe_parses(tmp_path):
    loaded = recipe.load_recipe(write(tmp_path, GOOD.format(sha=SHA)))
    assert (loaded.name, loaded.version, loaded.sources[0].filename) == ("demo", "1.2.3", "demo-1.2.3.tar.gz")


@pytest.mark.parametrize("text, field", [
    ('colour = "red"\n' + GOOD.format(sha=SHA), "'colour'"),
    (GOOD.format(sha=SHA).replace('version = "1.2.3"', 'version = "one.two"'), "'version'"),
    (GOOD.format(sha="abc123"), "'source[0].sha256'"),
    (GOOD.format(sha=SHA).replace(f'sha256 = "{SHA}"', ""), "'source[0].sha256'"),
    (GOOD.format(sha=SHA).replace('kind = "ruby"', 'kind = "gem"'), "'kind'"),
    (GOOD.format(sha=SHA).replace("[[source]]", "[[source]]\nmirror = 1"), "'source[0].mirror'"),
    (GOOD.format(sha=SHA).replace('url = "https://example.invalid/demo-1.2.3.tar.gz"', ""), "'source[0].url'"),
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
