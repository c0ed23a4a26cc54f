"""The pipeline as doit tasks: one task per stage instance, wired with task_dep.

    fetch:<recipe>  ->  lib:<library>  ------------------------------.
    fetch:ruby-S    ->  baseruby:S  ->  configure:S-P  ->  make:S-P  ->  artifact:ruby-S-P
    fetch:<gem>     ->  gem:<gem>  ->  extension:S-<gem> (after make:S-<its profile>)
                                   ->  link:S-<gem>  ->  artifact:ruby-S-<gem>
    fetch:ruby-S    ->  twin:S  (the patched native reference; only the suites wait for it)
    make:S-P (and extension:S-<gem>)  ->  artifact:ruby-S-P[-<gems>]-box  (the boxes the recipe names)
    artifact:ruby-S-P  ->  suite:ruby-S-P-<suite>  (basictest, bootstraptest, test-all, endurance)
    artifact:ruby-S-<gem>  ->  suite:ruby-S-<gem>-<suite>  (minitest, endurance; gems with a plan)
    artifact:<each>  ->  reproduce:<each>  (the nightly's second build and comparison)

A stage is up to date when its keyed output exists for the current inputs: the same stamps and
manifests the builds themselves check, found by planning from the cache alone (memoized per
process, so one doit run plans each build once). So `doit list --all` shows the pipeline, `doit
info STAGE` says why it would run, `doit clean STAGE` removes its output, and `doit -n N` runs
independent stages side by side: OpenSSL's build beside the baseruby and CRuby's configure,
which does not need it. The stages build with the toolchain `auto` chooses; `doit ruby_wasm
--toolchain X` with another X builds its product in one step.

Task names hold only recipe data (series, profiles, recipes), so loading the graph reads the
recipes and nothing else.
"""
from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from . import product
from .build import baseruby, cruby, gems, libraries, link
from .build.phases import PhasedBuild
from .errors import UserError, reporting_user_errors
from .inputs import fetch, providers, recipe
from .publish import nightly
from .publish.artifact import is_current
from .run.runner import artifact_path
from .steps import say
from .verify.known_failures import PLANS_DIR
from .verify.suites import RUBY_SUITES
from .verify.verification import results_path, suite_is_verified

STAGE_PROVIDER = "auto"
Task = dict
T = TypeVar("T")


# --- planning, once per process ------------------------------------------------------------------

@functools.cache
def toolchain() -> providers.Toolchain:
    return providers.resolve(STAGE_PROVIDER, quiet=True)


@functools.cache
def ruby_build(series: str, profile: str) -> cruby.RubyBuild | None:
    return cruby.plan(series, profile, STAGE_PROVIDER, fetch_missing=False, quiet=True)


@functools.cache
def ext_product(series: str, gem: str) -> product.ExtProduct | None:
    return product.plan_ext(gem, series, STAGE_PROVIDER, fetch_missing=False, quiet=True)


def planned(value: T | None, stage: str) -> T:
    """A plan made with fetching allowed is None only if an input left the cache meanwhile."""
    if value is None:
        raise UserError(f"Stage {stage}: an input left the cache while the stage was being planned. "
                        "Run the stage again.")
    return value


def any_profile(series: str) -> str:
    """The native builds are the same for every profile of a series: plan them through the first."""
    return next(iter(recipe.ruby_recipe(series).profiles))


# --- up-to-date checks: the stage's output exists for the current key ----------------------------

def fetched(name: str) -> bool:
    loaded = recipe.load(name)
    platform = providers.host_platform() if loaded.kind == "toolchain" else None
    return fetch.first_in_store(loaded, platform) is not None


def library_built(name: str) -> bool:
    lib = libraries.plan_library(name, toolchain(), fetch_missing=False)
    return lib is not None and lib.phases.done("install")


def native_built(series: str, kind: str) -> bool:
    build = ruby_build(series, any_profile(series))
    return build is not None and PhasedBuild(native_build(build, kind).build_dir, {}).done("install")


def native_build(build: cruby.RubyBuild, kind: str) -> baseruby.NativeRuby:
    return build.native if kind == "twin" else build.host_build


def ruby_configured(series: str, profile: str) -> bool:
    """Configured, or installed without configuring here (pulled from the binary cache)."""
    build = ruby_build(series, profile)
    return build is not None and (PhasedBuild(build.build_dir, {}).done("configure") or cruby.installed(build))


def ruby_installed(series: str, profile: str) -> bool:
    build = ruby_build(series, profile)
    return build is not None and cruby.installed(build)


def gem_unpacked(name: str) -> bool:
    gem = gems.plan_gem(name, fetch_missing=False)
    return gem is not None and PhasedBuild(gem.build_dir, {}).done("source")


def extension_built(series: str, gem: str) -> bool:
    ext = ext_product(series, gem)
    return ext is not None and PhasedBuild(ext.extension.build_dir, {}).done("make")


def link_done(series: str, gem: str) -> bool:
    ext = ext_product(series, gem)
    return ext is not None and PhasedBuild(ext.link.build_dir, {}).done("link")


def ruby_artifact_current(series: str, profile: str) -> bool:
    build = ruby_build(series, profile)
    return build is not None and is_current(artifact_path(build.name), build.key)


def suite_verified(series: str, profile: str, suite: str) -> bool:
    build = ruby_build(series, profile)
    return build is not None and ruby_artifact_current(series, profile) and \
        suite_is_verified(product.ruby_verification(build), suite)


def ext_suite_verified(series: str, gem: str, suite: str) -> bool:
    ext = ext_product(series, gem)
    if ext is None or not ext_artifact_current(series, gem):
        return False
    verification = product.ext_verification(ext, fetch_missing=False)
    return verification is not None and suite_is_verified(verification, suite)


@functools.cache
def recipe_box(series: str, target: str) -> product.BoxProduct | None:
    return product.plan_recipe_box(series, target, STAGE_PROVIDER, fetch_missing=False, quiet=True)


def box_artifact_current(series: str, target: str) -> bool:
    return product.box_is_current(recipe_box(series, target))


def box_suite_verified(series: str, target: str, suite: str) -> bool:
    planned = recipe_box(series, target)
    return planned is not None and product.box_is_current(planned) and \
        suite_is_verified(product.box_verification(planned), suite)


def ext_artifact_current(series: str, gem: str) -> bool:
    ext = ext_product(series, gem)
    return ext is not None and is_current(artifact_path(ext.name), ext.key)


# --- actions ---------------------------------------------------------------------------------------

@reporting_user_errors
def fetch_stage(name: str) -> None:
    fetch.fetch_recipe(recipe.load(name))


@reporting_user_errors
def library_stage(name: str) -> None:
    libraries.build_library(planned(libraries.plan_library(name, toolchain()), f"lib:{name}"))


@reporting_user_errors
def native_stage(series: str, kind: str) -> None:
    build = planned(cruby.plan(series, any_profile(series), STAGE_PROVIDER), f"{kind}:{series}")
    baseruby.build_native(native_build(build, kind))


@reporting_user_errors
def configure_stage(series: str, profile: str) -> None:
    cruby.configure_unless_pulled(planned(cruby.plan(series, profile, STAGE_PROVIDER), f"configure:{series}-{profile}"))


@reporting_user_errors
def make_stage(series: str, profile: str) -> None:
    cruby.install_ruby(planned(cruby.plan(series, profile, STAGE_PROVIDER), f"make:{series}-{profile}"))


@reporting_user_errors
def ruby_artifact_stage(series: str, profile: str) -> None:
    product.build_ruby_wasm(series, profile, STAGE_PROVIDER)


@reporting_user_errors
def suite_stage(series: str, profile: str, suite: str) -> None:
    product.verify_ruby_suite(series, profile, STAGE_PROVIDER, suite, os.cpu_count() or 1)


@reporting_user_errors
def ext_suite_stage(series: str, gem: str, suite: str) -> None:
    product.verify_ext_suite(gem, series, STAGE_PROVIDER, suite, os.cpu_count() or 1)


@reporting_user_errors
def box_artifact_stage(series: str, target: str) -> None:
    product.build_box(planned(product.plan_recipe_box(series, target, STAGE_PROVIDER), f"artifact:ruby-{series}-{target}"))


@reporting_user_errors
def box_suite_stage(series: str, target: str, suite: str) -> None:
    product.verify_recipe_box_suite(series, target, STAGE_PROVIDER, suite, os.cpu_count() or 1)


@reporting_user_errors
def reproduce_stage(series: str, kind: str, target: str) -> None:
    nightly.reproduce(nightly.Product(kind, series, target), STAGE_PROVIDER)


def reproduced(series: str, kind: str, target: str) -> bool:
    return nightly.kept_verdict(nightly.Product(kind, series, target), STAGE_PROVIDER) is not None


def clean_reproduced(name: str) -> None:
    nightly.verdict_path(name).unlink(missing_ok=True)


@reporting_user_errors
def gem_stage(name: str) -> None:
    planned(gems.plan_gem(name), f"gem:{name}").tree()


@reporting_user_errors
def extension_stage(series: str, gem: str) -> None:
    ext = planned(product.plan_ext(gem, series, STAGE_PROVIDER, quiet=True), f"extension:{series}-{gem}")
    gems.build_extension(ext.extension)


@reporting_user_errors
def link_stage(series: str, gem: str) -> None:
    ext = planned(product.plan_ext(gem, series, STAGE_PROVIDER, quiet=True), f"link:{series}-{gem}")
    link.link(ext.link, [gems.build_extension(ext.extension)])


@reporting_user_errors
def ext_artifact_stage(series: str, gem: str) -> None:
    product.build_ext(gem, series, STAGE_PROVIDER)


# --- clean: a stage's output for the current key ---------------------------------------------------

def remove_tree(path: Path) -> None:
    if path.exists():
        print(f"removing {path}")
        shutil.rmtree(path)


def clean_library(name: str) -> None:
    lib = libraries.plan_library(name, toolchain(), fetch_missing=False)
    if lib:
        remove_tree(lib.build_dir)


def clean_ruby(series: str, profile: str) -> None:
    build = ruby_build(series, profile)
    if build:
        remove_tree(build.build_dir)


def clean_native(series: str, kind: str) -> None:
    build = ruby_build(series, any_profile(series))
    if build:
        remove_tree(native_build(build, kind).build_dir)


def clean_extension(series: str, gem: str) -> None:
    ext = ext_product(series, gem)
    if ext:
        remove_tree(ext.extension.build_dir)


def clean_link(series: str, gem: str) -> None:
    ext = ext_product(series, gem)
    if ext:
        remove_tree(ext.link.build_dir)


def clean_artifact(name: str) -> None:
    remove_tree(artifact_path(name))


def clean_suite(name: str, suite: str) -> None:
    results_path(name, suite).unlink(missing_ok=True)


# --- the tasks -------------------------------------------------------------------------------------

@functools.cache
def loadable_recipes() -> tuple[recipe.Recipe, ...]:
    """Every recipe that loads. Each one that does not is reported once, in one paragraph, and
    takes down only the tasks that need it: `doit list` and the others keep working."""
    loaded, broken = recipe.load_all()
    for error in broken:
        say(f"warning: {error} Until it is fixed, the tasks that need it fail; the others work.")
    return tuple(loaded)


def of_kind(kind: str) -> list[recipe.Recipe]:
    return [loaded for loaded in loadable_recipes() if loaded.kind == kind]


def gems_with_extensions() -> list[recipe.Recipe]:
    return [gem for gem in of_kind("gem") if gem.extension]


def gems_with_tests() -> list[recipe.Recipe]:
    """The gems with a verification plan (verification/gem-<name>.toml) for their artifact."""
    return [gem for gem in gems_with_extensions() if (PLANS_DIR / f"gem-{gem.name}.toml").exists()]


def stage(name: str, doc: str, action: tuple, uptodate: tuple, deps: list[str], clean: tuple | None = None,
          targets: tuple[Path, ...] = ()) -> Task:
    """One stage task; actions, checks and clean-ups are module functions with plain arguments,
    which doit's multiprocess runner can send to its workers."""
    task: Task = {"name": name, "doc": doc, "actions": [action], "uptodate": [uptodate], "task_dep": deps,
                  "targets": [str(target) for target in targets], "verbosity": 2}
    if clean:
        task["clean"] = [clean]
    return task


def manifest(name: str) -> Path:
    """An artifact's manifest: the artifact stage's target, the product task's file_dep, so that
    the product task runs (and prints its path) when the stage published it anew."""
    return artifact_path(name) / "manifest.json"


def _stages() -> Iterator[tuple[str, Task]]:
    """(basename, task) for every stage instance the loadable recipes make."""
    for name in (loaded.path.stem for loaded in of_kind("ruby") + of_kind("library") + of_kind("gem")):
        yield "fetch", stage(name, f"download and verify {name}'s source", (fetch_stage, [name]), (fetched, [name]), [])
    for lib in of_kind("library"):
        yield "lib", stage(lib.name, f"build the C library {lib.name} for wasm32-wasi", (library_stage, [lib.name]),
                           (library_built, [lib.name]), [f"fetch:{lib.name}", *[f"lib:{dep}" for dep in lib.deps]],
                           (clean_library, [lib.name]))
    for gem in of_kind("gem"):
        yield "gem", stage(gem.name, f"unpack and patch the gem {gem.name}", (gem_stage, [gem.name]),
                           (gem_unpacked, [gem.name]), [f"fetch:{gem.name}", *[f"gem:{dep}" for dep in gem.deps]])
    for ruby in of_kind("ruby"):
        yield from _ruby_stages(ruby.series)


def _ruby_stages(series: str) -> Iterator[tuple[str, Task]]:
    for kind, title in (("baseruby", f"build the baseruby: native Ruby {series}, unpatched"),
                        ("twin", f"build the native twin of Ruby {series}, patched: the wasm's reference")):
        yield kind, stage(series, title, (native_stage, [series, kind]), (native_built, [series, kind]),
                          [f"fetch:ruby-{series}"], (clean_native, [series, kind]))
    for profile, spec in recipe.ruby_recipe(series).profiles.items():
        instance, name = f"{series}-{profile}", f"ruby-{series}-{profile}"
        yield "configure", stage(instance, f"unpack, patch and configure CRuby {series} ({profile})",
                                 (configure_stage, [series, profile]), (ruby_configured, [series, profile]),
                                 [f"baseruby:{series}"], (clean_ruby, [series, profile]))
        yield "make", stage(instance, f"compile, link, Asyncify and install CRuby {series} ({profile})",
                            (make_stage, [series, profile]), (ruby_installed, [series, profile]),
                            [f"configure:{instance}", *[f"lib:{lib}" for lib in spec.libraries]])
        yield "artifact", stage(name, f"assemble and smoke-check {name}", (ruby_artifact_stage, [series, profile]),
                                (ruby_artifact_current, [series, profile]), [f"make:{instance}"],
                                (clean_artifact, [name]), (manifest(name),))
        yield from _suite_stages(series, name, RUBY_SUITES, suite_stage, suite_verified, [series, profile])
        yield _reproduce_stage(nightly.Product("profile", series, profile))
    tested = gems_with_tests()
    for gem in gems_with_extensions():
        instance, name = f"{series}-{gem.name}", f"ruby-{series}-{gem.name}"
        yield "extension", stage(instance, f"cross-build {gem.name}'s C extension against CRuby {series}",
                                 (extension_stage, [series, gem.name]), (extension_built, [series, gem.name]),
                                 [f"gem:{gem.name}", f"make:{series}-{gem.ruby_profile or product.DEFAULT_PROFILE}",
                                  *[f"lib:{lib}" for lib in gem.libraries]], (clean_extension, [series, gem.name]))
        yield "link", stage(instance, f"link ruby.wasm with {gem.name}'s extension (Asyncify)",
                            (link_stage, [series, gem.name]), (link_done, [series, gem.name]), [f"extension:{instance}"],
                            (clean_link, [series, gem.name]))
        yield "artifact", stage(name, f"assemble and smoke-check {name}", (ext_artifact_stage, [series, gem.name]),
                                (ext_artifact_current, [series, gem.name]),
                                [f"link:{instance}", *[f"gem:{dep}" for dep in gem.deps]], (clean_artifact, [name]),
                                (manifest(name),))
        if gem in tested:
            yield from _suite_stages(series, name, product.GEM_SUITES, ext_suite_stage, ext_suite_verified,
                                     [series, gem.name])
        yield _reproduce_stage(nightly.Product("ext", series, gem.name))
    yield from _box_stages(series)


def _box_stages(series: str) -> Iterator[tuple[str, Task]]:
    """The boxes the series' recipe names; a box whose gem recipes do not load has no stages (the
    broken recipe was reported once, and `doit box` names it when asked for)."""
    for target, spec in product.recipe_boxes(series).items():
        try:
            gems = recipe.with_deps(spec.gems, "gem")
        except UserError:
            continue
        name = f"ruby-{series}-{target}"
        yield "artifact", stage(name, f"build, pre-initialize and smoke-check the box {name}",
                                (box_artifact_stage, [series, target]), (box_artifact_current, [series, target]),
                                [f"make:{series}-{spec.profile}", *[f"extension:{series}-{gem}" for gem in spec.gems],
                                 *[f"gem:{gem.name}" for gem in gems]],
                                (clean_artifact, [name]), (manifest(name),))
        yield from _suite_stages(series, name, product.box_suites(series, target), box_suite_stage, box_suite_verified,
                                 [series, target])
        yield _reproduce_stage(nightly.Product("box", series, target))


def _reproduce_stage(item: nightly.Product) -> tuple[str, Task]:
    args = [item.series, item.kind, item.target]
    return "reproduce", stage(item.name, f"build {item.name} again elsewhere, without the compiler cache, and compare",
                              (reproduce_stage, args), (reproduced, args), [f"artifact:{item.name}"],
                              (clean_reproduced, [item.name]))


def _suite_stages(series: str, name: str, suites: Iterable[str], action: Callable[..., None],
                  check: Callable[..., bool], args: list[str]) -> Iterator[tuple[str, Task]]:
    """One stage per suite of the artifact `name`; action and check take args, then the suite."""
    for suite in suites:
        yield "suite", stage(suite_task(name, suite), f"run {suite} against {name}", (action, [*args, suite]),
                             (check, [*args, suite]), [f"artifact:{name}", f"twin:{series}"], (clean_suite, [name, suite]))


@functools.cache
def _wired() -> tuple[tuple[str, Task], ...]:
    """(basename, task) for every stage. A dependency on a stage a broken recipe took down is
    left out: the stage that needed it fails when it runs, naming the recipe and the fix."""
    made = list(_stages())
    names = stage_names(made)
    for _, task in made:
        task["task_dep"] = [dep for dep in task["task_dep"] if dep in names]
    return tuple(made)


def stage_names(made: Iterable[tuple[str, Task]]) -> set[str]:
    return {f"{basename}:{task['name']}" for basename, task in made}


STAGE_DOCS = {
    "fetch": "Download a recipe's source and verify its sha256 (one per recipe)",
    "lib": "Build a C library for wasm32-wasi (one per library recipe)",
    "gem": "Unpack and patch a gem's source (one per gem recipe)",
    "baseruby": "Build a Ruby series natively from the unpatched source: the cross build's baseruby",
    "twin": "Build a Ruby series natively from the patched source: the reference the wasm is compared with",
    "configure": "Unpack, patch and configure CRuby for wasm32-wasi (one per series and profile)",
    "make": "Compile, link, Asyncify and install CRuby (one per series and profile)",
    "extension": "Cross-build a gem's C extension against a CRuby build",
    "link": "Link ruby.wasm with a gem's extension and Asyncify it",
    "artifact": "Assemble and smoke-check a published artifact (ruby.wasm, its tree, manifest, SHA256SUMS)",
    "suite": "Run one test suite against an artifact; doit verify and verify_ext:<gem> report on the kept results",
    "reproduce": "Build an artifact a second time under another root and compare; doit nightly reports the kept verdict",
}


def suite_task(artifact_name: str, suite: str) -> str:
    return f"{artifact_name}-{suite}"


def stage_tasks() -> Iterator[Task]:
    """Every stage task under its kind's basename, after one group task per kind that holds the
    kind's doc; each a fresh dict (doit changes the dicts it is given)."""
    made = _wired()
    for basename, doc in STAGE_DOCS.items():
        if any(kind == basename for kind, _ in made):
            yield {"basename": basename, "name": None, "doc": doc}
        yield from ({**task, "basename": basename} for kind, task in made if kind == basename)


def existing(*names: str) -> list[str]:
    """Those of the named stages that exist."""
    made = stage_names(_wired())
    return [name for name in names if name in made]
