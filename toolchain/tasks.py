"""The actions behind dodo.py's tasks: thin calls into the stages, with user errors shown as text."""
from __future__ import annotations

import argparse
import os
import shlex
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from . import gc, graph, pipeline, product, push
from .binary_cache import remote as binary_cache_remote
from .binary_cache import trust
from .compile import box
from .errors import UserError, reporting_user_errors
from .inputs import lock, outdated, providers, recipe
from .publish import nightly
from .run.runner import DEFAULT_PROFILE, Artifact, Mount, RubyWasm, artifact_dir
from .verify.known_failures import load_plan
from .verify.suites import RUBY_SUITES

PARAMS = {
    "ruby": {"name": "ruby", "long": "ruby", "default": "3.3", "help": "Ruby series (a recipes/ruby-<series>.toml)"},
    "profile": {"name": "profile", "long": "profile", "default": DEFAULT_PROFILE,
                "help": "extension profile from the Ruby recipe: minimal, default (no outside C "
                        "library) or full (default + zlib, psych, openssl)"},
    "toolchain": {"name": "toolchain", "long": "toolchain", "default": "auto",
                  "help": f"toolchain provider: {', '.join(providers.PROVIDERS)}"},
    "args": {"name": "args", "long": "args", "short": "a", "default": "-e 'puts RUBY_VERSION'",
             "help": "arguments for ruby, as one shell-quoted string"},
    "dir": {"name": "dir", "long": "dir", "type": list, "default": [],
            "help": "host directory to grant the wasm (HOST[::GUEST]); repeatable"},
    "suites": {"name": "suites", "long": "suites", "default": "",
               "help": f"comma-separated test suites to run: {', '.join(RUBY_SUITES)}, and minitest (the bundled "
                       "gems' own tests) on a profile with them; default: every one the profile runs"},
    "strict": {"name": "strict", "long": "strict", "type": bool, "default": False,
               "help": "also fail when a listed known failure now passes"},
    "workers": {"name": "workers", "long": "workers", "type": int, "default": os.cpu_count() or 1,
                "help": "wasm worker processes (default: one per core)"},
    "dry_run": {"name": "dry_run", "long": "dry-run", "type": bool, "default": False,
                "help": "list what would be removed, remove nothing"},
    "keep_releases": {"name": "keep_releases", "long": "keep-releases", "type": int, "default": gc.KEEP_RELEASES,
                      "help": "how many of the newest nightly releases keep their inputs' downloads"},
    "name": {"name": "name", "long": "name", "default": "",
             "help": "the box's name: its artifact directory (default: ruby-<series>-<profile>[-<gems>][-<app>]-box)"},
    "gems": {"name": "gems", "long": "gems", "default": "",
             "help": "comma-separated gem recipes whose extensions are prelinked and Ruby files packed (e.g. nokogiri,bcrypt)"},
    "app": {"name": "app", "long": "app", "default": "", "help": "an app directory, packed at /app"},
    "entry": {"name": "entry", "long": "entry", "default": "",
              "help": "the app's script (relative to --app) that a run of the box runs"},
    "products": {"name": "products", "long": "product", "default": "",
                 "help": "comma-separated products to push (e.g. ruby-3.3-full): what each is made of and its "
                         "artifact (default: everything built for the current recipes)"},
    "update": {"name": "update", "long": "update", "default": "",
               "help": "recipe to pin to the newer file its sources offer (fetched, verified, written to the "
                       "recipe and the lock for review)"},
}


# Requests are checked before anything is downloaded: the provider, the Ruby series and profile,
# and every recipe the artifact needs (a broken one is named, with its field and the fix).

def _check_ruby_wasm(ruby: str, profile: str, toolchain: str) -> None:
    providers.check_provider(toolchain)
    recipe.with_deps(recipe.ruby_recipe(ruby).profile(profile).libraries, "library")


def _check_ext(gem: str, ruby: str, toolchain: str, test_deps: Sequence[str] = ()) -> None:
    """The gem's recipe, its run-time (and test) gems' and their C libraries', and the ruby.wasm's."""
    gems = recipe.with_deps([gem, *test_deps], "gem")
    recipe.with_deps([library for each in gems for library in each.libraries], "library")
    _check_ruby_wasm(ruby, recipe.load(gem).ruby_profile or DEFAULT_PROFILE, toolchain)


def _staged(item: pipeline.Product, toolchain: str, suites: Sequence[str] = ()) -> dict:
    """What a product task adds to its action when the stages build what was asked for (the
    toolchain auto picks): it comes after its artifact's stage and the stages of the suites it
    reports on, and runs again when the artifact stage published the artifact anew (its manifest
    is a file_dep). Else (another toolchain, or a broken recipe took the stages down) its own
    action builds (and verifies) in one step, or reports what is wrong."""
    stages = [item.artifact_node().task, *(item.suite_node(suite).task for suite in suites)]
    if toolchain != graph.STAGE_PROVIDER or len(graph.existing(stages)) < len(stages):
        return {}
    return {"task_dep": stages, "file_dep": [str(pipeline.manifest(item.name))]}


def ruby_product(ruby: str, profile: str, toolchain: str, suites: str | None = None) -> dict:
    """The staged wiring of `doit ruby_wasm` and `doit verify`, when their options are valid. (A
    gem's tasks, ext:<gem> and verify_ext:<gem>, always work in one step: doit gives a sub-task's
    options only to its actions, so stages before it could not know which Ruby or toolchain, nor
    wait for the options to be checked; `doit artifact:ruby-3.3-<gem>` is the staged way.)"""
    try:
        _check_ruby_wasm(ruby, profile, toolchain)
        item = pipeline.Profile(ruby, profile, graph.STAGE_PROVIDER)
        return _staged(item, toolchain, _suite_list(suites, item) if suites is not None else [])
    except UserError:
        return {}


@reporting_user_errors
def build_ruby_wasm(ruby: str, profile: str, toolchain: str) -> None:
    _check_ruby_wasm(ruby, profile, toolchain)
    pipeline.Profile(ruby, profile, toolchain).build()


def ruby_wasm_uptodate(ruby: str, profile: str, toolchain: str) -> bool:
    try:
        return pipeline.Profile(ruby, profile, toolchain).is_current()
    except UserError:
        return False  # the action will run and report the problem properly


def gems_with_extensions() -> list[str]:
    """The gem recipes that have a C extension to prelink: one `doit ext:<name>` each."""
    return pipeline.gems_with_extensions()


@reporting_user_errors
def build_ext(gem: str, ruby: str, toolchain: str) -> None:
    _check_ext(gem, ruby, toolchain)
    pipeline.Gem(ruby, gem, toolchain).build()


def ext_uptodate(gem: str) -> Callable[..., bool]:
    def uptodate(task, values) -> bool:
        try:
            return pipeline.Gem(task.options["ruby"], gem, task.options["toolchain"]).is_current()
        except UserError:
            return False  # the action will run and report the problem properly
    return uptodate


@reporting_user_errors
def prepare_toolchain(toolchain: str) -> None:
    chosen = providers.resolve(toolchain)
    print(f"{chosen.provider}: {chosen.identity}\n  CC={chosen.cc}\n  sysroot={chosen.sysroot}\n"
          f"  wasm-opt={chosen.wasm_opt}")


@reporting_user_errors
def run_ruby(ruby: str, profile: str, args: str, dir: list[str]) -> bool:
    runner = RubyWasm(Artifact(artifact_dir(ruby, profile)))
    result = runner.run(shlex.split(args), mounts=[Mount.parse(spec) for spec in dir])
    if result.trap:
        raise UserError(f"ruby.wasm trapped: {result.trap}")
    if result.exit_code != 0:
        raise UserError(f"ruby exited with status {result.exit_code}.")
    return True


def _suite_list(suites: str, item: pipeline.Profile) -> list[str]:
    """The suites --suites names, each one the profile runs; none named: all of them."""
    runnable = item.runnable_suites()
    chosen = [s.strip() for s in suites.split(",") if s.strip()] or runnable
    unknown = [s for s in chosen if s not in runnable]
    if unknown:
        raise UserError(f"--suites {suites!r}: {', '.join(unknown)} is not a suite of {item.name}. Choose from "
                        f"{', '.join(runnable)} (comma-separated).")
    return chosen


@reporting_user_errors
def verify(ruby: str, profile: str, toolchain: str, suites: str, strict: bool, workers: int) -> None:
    _check_ruby_wasm(ruby, profile, toolchain)
    item = pipeline.Profile(ruby, profile, toolchain)
    item.verify(_suite_list(suites, item), strict, workers)


def verify_uptodate(ruby: str, profile: str, toolchain: str, suites: str, strict: bool) -> bool:
    try:
        item = pipeline.Profile(ruby, profile, toolchain)
        return item.is_verified(_suite_list(suites, item), strict)
    except UserError:
        return False


def gems_with_tests() -> list[str]:
    """The gems with a verification plan (verification/gem-<name>.toml): one `doit verify_ext:<name>` each."""
    return [gem for gem in gems_with_extensions() if pipeline.Gem("", gem).tested()]


@reporting_user_errors
def verify_ext(gem: str, ruby: str, toolchain: str, strict: bool, workers: int) -> None:
    _check_ext(gem, ruby, toolchain, load_plan(f"gem-{gem}").test_deps)
    item = pipeline.Gem(ruby, gem, toolchain)
    item.verify(item.suites(), strict, workers)


def verify_ext_uptodate(gem: str) -> Callable[..., bool]:
    def uptodate(task, values) -> bool:
        options = task.options
        try:
            item = pipeline.Gem(options["ruby"], gem, options["toolchain"])
            return item.is_verified(item.suites(), options["strict"])
        except UserError:
            return False
    return uptodate


@reporting_user_errors
def update_lock(toolchain: str) -> None:
    changed = lock.write_lock(toolchain)
    listed = "\n  ".join(changed)
    print(f"{lock.LOCK_FILE}: {'unchanged' if not changed else f'updated ({len(changed)} changes):' + chr(10) + '  ' + listed}")


@reporting_user_errors
def report_outdated(update: str) -> None:
    if not update:
        print(outdated.report())
        return
    changes = outdated.update(update)
    print("\n".join(changes) + "\nReview them (git diff), build and test, then commit." if changes else
          f"{update}: every Debian source of the recipe lists its pinned file; nothing to update.")


@reporting_user_errors
def collect_garbage(dry_run: bool, keep_releases: int) -> None:
    gc.collect(dry_run, keep_releases)


def nightly_product(ruby: str, toolchain: str) -> dict:
    """What the nightly task adds to its action: it comes after the stages of each product whose
    sources are all downloaded (its artifact, the suites it reports on, its second build), whose
    kept results its action then reads. A product with a source not downloaded yet is built by
    the action itself, which skips it, saying so, when the source cannot be fetched."""
    try:
        providers.check_provider(toolchain)
        items = pipeline.products(ruby, graph.STAGE_PROVIDER)
        ready = [item for item in items if all(pipeline.fetch_node(name).is_done() for name in item.recipes())]
    except UserError:
        return {}  # the action reports it
    if toolchain != graph.STAGE_PROVIDER:
        return {}
    return {"task_dep": graph.existing(node.task for item in ready for node in (
        item.artifact_node(), *map(item.suite_node, item.suites()), item.node("reproduce")))}


@reporting_user_errors
def run_nightly(ruby: str, toolchain: str, workers: int) -> None:
    nightly.run_nightly(ruby, toolchain, workers)
    if binary_cache_remote.configured() and trust.signing_key_path().is_file():
        push.push([])
    elif binary_cache_remote.configured():
        print(f"nightly: not pushed to the binary cache, as this machine has no signing key ({trust.signing_key_path()})")


@reporting_user_errors
def make_reports() -> None:
    for path in nightly.write_reports():
        print(f"report: {path}")


def nightly_uptodate(ruby: str, toolchain: str) -> bool:
    try:
        return nightly.is_current(ruby, toolchain)
    except UserError:
        return False


# --- boxes --------------------------------------------------------------------------------------

BOX_PARAMS = ("name", "gems", "app", "entry", "ruby", "profile", "toolchain")


def _box_request(name: str, gems: str, app: str, entry: str, ruby: str, profile: str,
                 toolchain: str) -> tuple[str, list[str], box.App | None]:
    """The box asked for, checked before anything is downloaded: its name, gems and app."""
    providers.check_provider(toolchain)
    gem_names = [gem.strip() for gem in gems.split(",") if gem.strip()]
    recipe.with_deps(gem_names, "gem")
    _check_ruby_wasm(ruby, profile, toolchain)
    checked_app = box.check_app(app, entry)
    return box.check_name(name or box.default_name(ruby, profile, gem_names, checked_app)), gem_names, checked_app


@reporting_user_errors
def build_box(name: str, gems: str, app: str, entry: str, ruby: str, profile: str, toolchain: str) -> None:
    box_name, gem_names, checked_app = _box_request(name, gems, app, entry, ruby, profile, toolchain)
    planned = product.plan_box(box_name, gem_names, checked_app, ruby, profile, toolchain)
    assert planned is not None
    product.publish_box(planned)


def box_uptodate(name: str, gems: str, app: str, entry: str, ruby: str, profile: str, toolchain: str) -> bool:
    try:
        box_name, gem_names, checked_app = _box_request(name, gems, app, entry, ruby, profile, toolchain)
        planned = product.plan_box(box_name, gem_names, checked_app, ruby, profile, toolchain,
                                   fetch_missing=False, quiet=True)
        return planned is not None and product.is_published(planned)
    except UserError:
        return False


# --- the binary cache ---------------------------------------------------------------------------

@reporting_user_errors
def push_to_binary_cache(products: str) -> None:
    push.push([name.strip() for name in products.split(",") if name.strip()])


def _cache_key_options(words: list[str]) -> argparse.Namespace:
    """`generate [--name N] [--out FILE]`: doit hands a task with positional arguments every word after
    its name, options included, so they are parsed here."""
    parser = argparse.ArgumentParser(prog="doit cache-key", add_help=False, exit_on_error=False)
    parser.add_argument("command", nargs="?", choices=["generate"])  # optional: argparse exits on a missing one
    parser.add_argument("--name", default=f"{socket.gethostname()}-1")
    parser.add_argument("--out", default="")
    try:
        options, unknown = parser.parse_known_args(words)
    except argparse.ArgumentError as error:
        options, unknown = None, [str(error)]
    if options is None or options.command is None or unknown:
        raise UserError(f"doit cache-key {' '.join(words)}: not understood ({' '.join(unknown) or 'no command'}). "
                        f"Run `doit cache-key generate [--name <team>-1] [--out FILE]` to create a signing key for "
                        f"the binary cache (default file: {trust.SIGNING_KEY_ENV} or {trust.DEFAULT_SIGNING_KEY}).")
    return options


@reporting_user_errors
def cache_key(words: list[str]) -> None:
    options = _cache_key_options(words)
    path = Path(options.out).expanduser() if options.out else trust.signing_key_path()
    public = trust.generate(options.name, path)
    print(f"Secret key written to {path} (mode 0600). Keep it on the machines that push, and nowhere else.\n"
          f"Its public key, for the trusted list ([tool.ruby-wasm] trusted-keys in pyproject.toml, or "
          f"{trust.TRUSTED_KEYS_ENV} on one machine):\n  {public.line}")
