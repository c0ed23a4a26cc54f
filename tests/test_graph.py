"""The pipeline as doit sees it: every stage a task, wired so independent stages can run side by side."""
from __future__ import annotations

import importlib.util

from cli import doit
from doit.loader import load_tasks

from toolchain.inputs import recipe
from toolchain.paths import PROJECT_ROOT
from toolchain.verify.suites import RUBY_SUITES

STAGES = ("fetch", "lib", "baseruby", "twin", "configure", "make", "gem", "extension", "link", "artifact", "suite",
          "reproduce")


def task_deps(*command_line: str) -> dict[str, list[str]]:
    """Each task's task_dep, as doit loads them from dodo.py for a command line."""
    spec = importlib.util.spec_from_file_location("dodo", PROJECT_ROOT / "dodo.py")
    assert spec and spec.loader
    dodo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dodo)
    return {task.name: list(task.task_dep) for task in load_tasks(vars(dodo), args=command_line)}


def reaches(deps: dict[str, list[str]], start: str, goal: str) -> bool:
    pending, seen = [start], set()
    while pending:
        name = pending.pop()
        if name == goal:
            return True
        if name not in seen:
            seen.add(name)
            pending += deps[name]
    return False


def test_doit_list_all_shows_a_stage_task_for_every_recipe_profile_and_gem(private_cache):
    result = doit("list", "--all")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines()}
    profiles = recipe.ruby_recipe("3.3").profiles
    libraries, gems = recipe.names_of_kind("library"), recipe.names_of_kind("gem")
    expected = {*STAGES, "baseruby:3.3", "twin:3.3", *(f"reproduce:ruby-3.3-{name}" for name in [*profiles, "nokogiri"]), *(f"lib:{name}" for name in libraries), *(f"gem:{name}" for name in gems),
                *(f"fetch:{name}" for name in ["ruby-3.3", *libraries, *gems]),
                *(f"{stage}:3.3-{profile}" for stage in ("configure", "make") for profile in profiles),
                *(f"artifact:ruby-3.3-{profile}" for profile in profiles),
                *(f"suite:ruby-3.3-{profile}-{suite}" for profile in profiles for suite in RUBY_SUITES),
                *(f"suite:ruby-3.3-nokogiri-{suite}" for suite in ("minitest", "endurance")),
                *(f"{stage}:3.3-nokogiri" for stage in ("extension", "link")), "artifact:ruby-3.3-nokogiri"}
    assert expected <= listed, expected - listed


def test_independent_stages_do_not_wait_for_each_other():
    deps = task_deps()
    # OpenSSL's build runs beside the baseruby and CRuby's configure; make needs both.
    assert not reaches(deps, "configure:3.3-full", "lib:openssl")
    assert not reaches(deps, "lib:openssl", "configure:3.3-full") and not reaches(deps, "lib:openssl", "baseruby:3.3")
    assert reaches(deps, "make:3.3-full", "lib:openssl") and reaches(deps, "make:3.3-full", "configure:3.3-full")
    # a gem's libraries build beside CRuby; its extension needs both, its link the extension
    assert not reaches(deps, "make:3.3-full", "lib:libxml2")
    assert reaches(deps, "extension:3.3-nokogiri", "lib:libxslt") and reaches(deps, "extension:3.3-nokogiri", "make:3.3-full")
    assert reaches(deps, "artifact:ruby-3.3-nokogiri", "link:3.3-nokogiri") and reaches(deps, "ruby_wasm", "baseruby:3.3")
    # the twin is built from the patches, so building ruby.wasm must not wait for it: only the suites do
    assert not reaches(deps, "ruby_wasm", "twin:3.3") and not reaches(deps, "extension:3.3-nokogiri", "twin:3.3")
    assert reaches(deps, "verify", "artifact:ruby-3.3-full")
    # the suites run side by side, each after the artifact and the twin (bootstraptest's driver)
    assert not reaches(deps, "suite:ruby-3.3-full-test-all", "suite:ruby-3.3-full-basictest")
    assert reaches(deps, "suite:ruby-3.3-full-endurance", "artifact:ruby-3.3-full")
    assert reaches(deps, "suite:ruby-3.3-full-bootstraptest", "twin:3.3")
    assert reaches(deps, "suite:ruby-3.3-nokogiri-minitest", "artifact:ruby-3.3-nokogiri")
    # the nightly's second builds run beside the suites; the nightly comes after both
    assert reaches(deps, "reproduce:ruby-3.3-full", "artifact:ruby-3.3-full")
    assert not reaches(deps, "reproduce:ruby-3.3-full", "suite:ruby-3.3-full-test-all")
    # the recipe's boxes: built on the profile's build (not its artifact), with the gems' extensions
    assert reaches(deps, "artifact:ruby-3.3-full-box", "make:3.3-full")
    assert not reaches(deps, "artifact:ruby-3.3-full-box", "artifact:ruby-3.3-full")
    assert all(reaches(deps, "artifact:ruby-3.3-full-nokogiri-bcrypt-box", f"extension:3.3-{gem}") for gem in ("nokogiri", "bcrypt"))
    assert reaches(deps, "suite:ruby-3.3-full-box-test-all", "artifact:ruby-3.3-full-box")
    assert reaches(deps, "reproduce:ruby-3.3-full-nokogiri-bcrypt-box", "artifact:ruby-3.3-full-nokogiri-bcrypt-box")
    for name in ("reproduce:ruby-3.3-nokogiri", "suite:ruby-3.3-nokogiri-minitest", "reproduce:ruby-3.3-minimal",
                 "suite:ruby-3.3-full-endurance"):
        assert reaches(deps, "nightly", name), name


def test_doit_info_says_why_a_stage_would_run(private_cache):
    result = doit("info", "configure:3.3-minimal")
    assert result.returncode == 1, result.stderr  # doit info's status for a task that would run
    assert "status     : run" in result.stdout and "stage_done" in result.stdout
    assert "baseruby:3.3" in result.stdout


def test_doit_clean_removes_a_stage_output(private_cache):
    artifact = private_cache / "artifacts" / "ruby-3.3-minimal"
    artifact.mkdir(parents=True)
    (artifact / "ruby.wasm").write_bytes(b"\0asm")
    result = doit("clean", "artifact:ruby-3.3-minimal")
    assert result.returncode == 0 and not artifact.exists(), result.stdout + result.stderr


def test_the_product_task_follows_the_stages_of_what_was_asked_for():
    assert task_deps("ruby_wasm", "--profile", "minimal")["ruby_wasm"] == ["artifact:ruby-3.3-minimal"]
    # another toolchain than the stages' builds the product in one step, as before
    assert task_deps("ruby_wasm", "--toolchain", "wasi-sdk")["ruby_wasm"] == []
    # verify reports on the stages of the suites it was asked for
    assert task_deps("verify", "--suites", "basictest,endurance")["verify"] == [
        "artifact:ruby-3.3-full", "suite:ruby-3.3-full-basictest", "suite:ruby-3.3-full-endurance"]
