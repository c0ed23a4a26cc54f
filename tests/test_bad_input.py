"""Broken recipes and bad parameters: one paragraph that names the file, field or parameter and
the fix, never a traceback, nothing downloaded, and the tasks that do not need the broken recipe
still work."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cli import doit

ZLIB_SHA256 = "9a93b2b7dfdac77ceba5a558a580e74667dd6fede4585b91eefb60f03b72df23"


def downloaded(cache: Path) -> list[Path]:
    return [path for area in ("store", "partial") for path in (cache / area).rglob("*") if path.is_file()]


def assert_one_paragraph(result: subprocess.CompletedProcess, *parts: str) -> None:
    """No traceback, and one line of the output (one paragraph) holds every part."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert any(all(part in line for part in parts) for line in output.splitlines()), output


@pytest.mark.parametrize("breakage, problem, fix", [
    (lambda text: text.replace(ZLIB_SHA256, ZLIB_SHA256[:12]), "field 'source[0].sha256'",
     "Paste the file's full sha256 digest."),
    (lambda text: text.replace('[build]', '[build'), "is not valid TOML", "Fix the syntax."),
])
def test_a_broken_library_recipe_is_one_paragraph_from_doit_list_and_doit_ruby_wasm(
        checkout, private_cache, breakage, problem, fix):
    zlib = checkout / "recipes" / "zlib.toml"
    zlib.write_text(breakage(zlib.read_text()))
    listed = doit("list", "--all", checkout=checkout)
    assert listed.returncode == 0
    assert {"ruby_wasm", "ext:nokogiri", "verify"} <= {line.split()[0] for line in listed.stdout.splitlines()}
    assert_one_paragraph(listed, str(zlib), problem, fix)
    built = doit("ruby_wasm", checkout=checkout)
    assert built.returncode != 0
    assert_one_paragraph(built, str(zlib), problem, fix)
    assert downloaded(private_cache) == []  # refused before anything was downloaded


def test_a_broken_gem_recipe_takes_down_only_the_tasks_that_need_it(checkout, private_cache):
    nokogiri = checkout / "recipes" / "nokogiri.toml"
    nokogiri.write_text(nokogiri.read_text().replace("[extension]", "[extension"))
    listed = doit("list", "--all", checkout=checkout)
    assert listed.returncode == 0
    tasks = {line.split()[0] for line in listed.stdout.splitlines()}
    assert {"ruby_wasm", "ext:bcrypt", "toolchain"} <= tasks and "ext:nokogiri" not in tasks
    assert_one_paragraph(listed, str(nokogiri), "is not valid TOML", "Fix the syntax.")
    toolchain = doit("toolchain", checkout=checkout)
    assert toolchain.returncode == 0 and "debian: clang-19=" in toolchain.stdout


@pytest.mark.parametrize("args, message", [
    (("ruby_wasm", "--toolchain", "nosuch"), "Unknown toolchain provider 'nosuch'. Choose one of: auto,"),
    (("ruby_wasm", "--profile", "nosuch"), "has no profile 'nosuch'. Profiles: minimal, default, full."),
    (("ruby_wasm", "--ruby", "9.9"), "No recipe named 'ruby-9.9'"),
    (("ext:bcrypt", "--toolchain", "nosuch"), "Unknown toolchain provider 'nosuch'"),
    (("verify", "--suites", "nosuch"), "--suites 'nosuch': nosuch is not a suite of ruby-3.3-full. Choose from basictest,"),
    (("verify_ext:nokogiri", "--toolchain", "nosuch"), "Unknown toolchain provider 'nosuch'"),
])
def test_bad_parameters_are_refused_before_any_download(private_cache, args, message):
    result = doit(*args)
    assert result.returncode != 0
    assert_one_paragraph(result, message)
    assert downloaded(private_cache) == []
