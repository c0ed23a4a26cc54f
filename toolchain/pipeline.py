"""The pipeline, declared once: every product and the stages it is made of.

A product is one published artifact: a profile of a Ruby series (`ruby-3.3-full`), a gem's
extension prelinked into one (`ruby-3.3-nokogiri`), or a box the series' recipe names
(`ruby-3.3-full-box`). It declares its stages as Nodes, each a stage instance (the doit task
`<stage>:<instance>`), the stages it comes after, how its keyed builds are planned, and what
building and checking it mean:

    fetch:<recipe>  ->  lib:<library>  ------------------------------.
    fetch:ruby-S    ->  baseruby:S  ->  configure:S-P  ->  make:S-P  ->  artifact:ruby-S-P
                        (with the series' bundled gems, the artifact stage builds their extensions,
                         links them and installs the gems: RubyArtifact.own_builds)
    fetch:<gem>     ->  gem:<gem>  ->  extension:S-<gem> (after make:S-<its profile>)
                                   ->  link:S-<gem>  ->  artifact:ruby-S-<gem>
    fetch:ruby-S    ->  twin:S  (the patched native reference; only the suites wait for it)
    make:S-P (and extension:S-<gem>)  ->  artifact:ruby-S-P[-<gems>]-box  (the boxes the recipe names)
    artifact:<each> (and twin:S)  ->  suite:<each>-<suite>
    artifact:<each>  ->  reproduce:<each>  (the nightly's second build and comparison)

Every reader walks these nodes and nothing else: graph.py makes a doit task of each, gc keeps
the build directories of every product's nodes, push uploads their binary-cache entries and
published artifacts, the nightly builds, verifies and reproduces every product, and a product
is current when its artifact node is done. A new kind of build is a node factory here (and its
builder); a new kind of product is a Product class here.

Plans are made from cached inputs once per process and shared by every node and check that
asks (the key of a planned build is computed once); an action plans again, downloading, only
when an input was missing.
"""
from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from . import product as builders
from .compile import baseruby, cruby, gems, libraries, link
from .compile.phases import KeyedBuild, PhasedBuild
from .errors import UserError
from .inputs import fetch, providers, recipe
from .publish import reproduce
from .run.runner import DEFAULT_PROFILE, Artifact, artifact_path
from .verify.known_failures import PLANS_DIR, load_plan
from .verify.suites import RUBY_SUITES
from .verify.verification import is_verified, results_path, suite_is_verified

# The stages, by the name their tasks share, with what each does: `doit list` shows these.
STAGES = {
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


# --- a node ----------------------------------------------------------------------------------------

def _nothing(planned: Any) -> Sequence[KeyedBuild]:
    return ()


@dataclass(frozen=True)
class Node:
    """One stage instance: the doit task `<stage>:<instance>`, the tasks it comes after, and, on
    its plan, what running it does, when it is done, and the keyed builds it makes."""
    stage: str
    instance: str
    doc: str
    deps: tuple[str, ...]
    plan: Callable[[bool], Any]  # fetch_missing -> what the stage works on; None: an input is not cached
    run: Callable[[Any], object]
    done: Callable[[Any], bool]
    builds: Callable[[Any], Sequence[KeyedBuild]] = _nothing  # kept by gc, pushed to the binary cache
    output: Callable[[], Path] | None = None  # a file its clean removes, when it is not a build directory
    targets: tuple[Path, ...] = ()

    @property
    def task(self) -> str:
        return f"{self.stage}:{self.instance}"

    def planned(self, fetch_missing: bool = True) -> Any:
        """The node's plan; with fetching allowed, None only if an input left the cache meanwhile."""
        value = self.plan(fetch_missing)
        if value is None and fetch_missing:
            raise UserError(f"Stage {self.task}: an input left the cache while the stage was being planned. "
                            "Run the stage again.")
        return value

    def is_done(self) -> bool:
        """Its output exists for the current inputs, planned from the cache alone."""
        value = self.plan(False)
        return value is not None and self.done(value)

    def clean(self) -> None:
        """Remove the stage's output for the current key."""
        if self.output:
            path = self.output()
            if path.is_dir():
                _remove_tree(path)
            else:
                path.unlink(missing_ok=True)
            return
        value = self.plan(False)
        for build in self.builds(value) if value is not None else ():
            _remove_tree(build.build_dir)


def _remove_tree(path: Path) -> None:
    if path.exists():
        print(f"removing {path}")
        shutil.rmtree(path)


# --- planning, once per process ------------------------------------------------------------------

_PLANS: dict[tuple, Any] = {}


def _from_cache(planner: Callable[..., Any], args: tuple) -> Any:
    """A plan from cached inputs, kept for the process once made (None, for an input not cached
    yet, is not kept: a later stage may download it)."""
    if (planner, args) not in _PLANS:
        found = planner(*args, fetch_missing=False)
        if found is None:
            return None
        _PLANS[planner, args] = found
    return _PLANS[planner, args]


def forget_plans() -> None:
    """Plan afresh from now on: for a process that changes the recipes or patches it plans from."""
    _PLANS.clear()


def _planned(planner: Callable[..., Any], *args: Any) -> Callable[[bool], Any]:
    """A node's plan: from cached inputs, once per process; with fetch_missing, one that
    downloads what is missing when an input is not cached."""
    def plan(fetch_missing: bool) -> Any:
        found = _from_cache(planner, args)
        return found if found is not None or not fetch_missing else planner(*args, fetch_missing=True)
    return plan


@functools.cache
def toolchain(provider: str) -> providers.Toolchain:
    return providers.resolve(provider, quiet=True)


def _ruby(series: str, profile: str, provider: str, fetch_missing: bool) -> cruby.RubyBuild | None:
    return cruby.plan(series, profile, provider, fetch_missing, quiet=True)


def _ruby_artifact(series: str, profile: str, provider: str, fetch_missing: bool) -> builders.RubyArtifact | None:
    return builders.plan_ruby_artifact(series, profile, provider, fetch_missing, quiet=True)


def _library(name: str, provider: str, fetch_missing: bool) -> libraries.LibraryBuild | None:
    return libraries.plan_library(name, toolchain(provider), fetch_missing)


def _gem(name: str, fetch_missing: bool) -> gems.GemSource | None:
    return gems.plan_gem(name, fetch_missing)


def _ext(series: str, gem: str, provider: str, fetch_missing: bool) -> builders.ExtProduct | None:
    return builders.plan_ext(gem, series, provider, fetch_missing, quiet=True)


def _box(series: str, target: str, provider: str, fetch_missing: bool) -> builders.BoxProduct | None:
    return builders.plan_recipe_box(series, target, provider, fetch_missing, quiet=True)


def any_profile(series: str) -> str:
    """The native builds are the same for every profile of a series: plan them through the first."""
    return next(iter(recipe.ruby_recipe(series).profiles))


# --- the nodes a recipe makes -------------------------------------------------------------------

def fetch_node(name: str) -> Node:
    """Download and verify the source of the recipe recipes/<name>.toml."""
    platform = providers.host_platform() if recipe.load(name).kind == "toolchain" else None
    return Node("fetch", name, f"download and verify {name}'s source", (),
                plan=lambda fetch_missing: recipe.load(name),
                run=fetch.fetch_recipe, done=lambda loaded: fetch.first_in_store(loaded, platform) is not None)


def library_node(name: str, provider: str) -> Node:
    deps = recipe.load_kind(name, "library").deps
    return Node("lib", name, f"build the C library {name} for wasm32-wasi",
                (f"fetch:{name}", *(f"lib:{dep}" for dep in deps)), _planned(_library, name, provider),
                run=libraries.build_library, done=lambda lib: lib.phases.done("install"), builds=lambda lib: (lib,))


def gem_node(name: str) -> Node:
    deps = recipe.load_kind(name, "gem").deps
    return Node("gem", name, f"unpack and patch the gem {name}", (f"fetch:{name}", *(f"gem:{dep}" for dep in deps)),
                _planned(_gem, name), run=lambda gem: gem.tree(),
                done=lambda gem: PhasedBuild(gem.build_dir, {}).done("source"), builds=lambda gem: (gem,))


def library_nodes(names: Sequence[str], provider: str) -> list[Node]:
    """The named libraries' nodes and their dependencies'."""
    return [library_node(lib.name, provider) for lib in recipe.with_deps(names, "library")]


def gem_nodes(names: Sequence[str]) -> list[Node]:
    """The named gems' nodes and their run-time dependencies'."""
    return [gem_node(gem.name) for gem in recipe.with_deps(names, "gem")]


# --- the nodes of a Ruby build ---------------------------------------------------------------------

def native_node(series: str, kind: str, provider: str) -> Node:
    """The baseruby (unpatched) or the twin (patched) of a series, built for this host."""
    title = (f"build the baseruby: native Ruby {series}, unpatched" if kind == "baseruby" else
             f"build the native twin of Ruby {series}, patched: the wasm's reference")

    def native(build: cruby.RubyBuild) -> baseruby.NativeRuby:
        return build.host_build if kind == "baseruby" else build.native
    return Node(kind, series, title, (f"fetch:ruby-{series}",), _planned(_ruby, series, any_profile(series), provider),
                run=lambda build: baseruby.build_native(native(build)),
                done=lambda build: PhasedBuild(native(build).build_dir, {}).done("install"),
                builds=lambda build: (native(build),))


def ruby_nodes(series: str, profile: str, provider: str) -> list[Node]:
    """What a ruby.wasm of one profile is built from: the profile's C libraries, the baseruby, the
    twin (its reference), and CRuby configured, then compiled and installed."""
    instance, plan = f"{series}-{profile}", _planned(_ruby, series, profile, provider)
    named = recipe.ruby_recipe(series).profile(profile).libraries
    return [
        *library_nodes(named, provider),
        native_node(series, "baseruby", provider), native_node(series, "twin", provider),
        # configured, or installed without configuring here (pulled from the binary cache)
        Node("configure", instance, f"unpack, patch and configure CRuby {series} ({profile})", (f"baseruby:{series}",),
             plan, run=cruby.configure_unless_pulled,
             done=lambda build: PhasedBuild(build.build_dir, {}).done("configure") or cruby.installed(build),
             builds=lambda build: (build,)),
        Node("make", instance, f"compile, link, Asyncify and install CRuby {series} ({profile})",
             (f"configure:{instance}", *(f"lib:{lib}" for lib in named)), plan,
             run=cruby.install_ruby, done=cruby.installed, builds=lambda build: (build,)),
    ]


def extension_node(series: str, gem: str, provider: str) -> Node:
    loaded = recipe.load_kind(gem, "gem")
    return Node("extension", f"{series}-{gem}", f"cross-build {gem}'s C extension against CRuby {series}",
                (f"gem:{gem}", f"make:{series}-{loaded.ruby_profile or DEFAULT_PROFILE}",
                 *(f"lib:{lib}" for lib in loaded.libraries)), _planned(_ext, series, gem, provider),
                run=lambda ext: gems.build_extension(ext.extension),
                done=lambda ext: ext.extension.phases.done("make"), builds=lambda ext: (ext.extension,))


# --- products ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Product:
    """One published artifact and the stages it is made of."""
    kind: ClassVar[str]
    series: str
    target: str  # the profile's or the gem's name, or the box's after ruby-<series>-
    provider: str = "auto"

    @property
    def name(self) -> str:
        return f"ruby-{self.series}-{self.target}"

    def plan(self, fetch_missing: bool = True) -> Any:
        """What the product's artifact is made from, planned once per process from cached inputs."""
        return self.artifact_node().plan(fetch_missing)

    def key(self) -> str | None:
        """The artifact's build key from cached inputs only; None if a source is not cached."""
        planned = self.plan(fetch_missing=False)
        return planned.key if planned is not None else None

    def is_current(self) -> bool:
        return self.artifact_node().is_done()

    def build(self) -> Artifact:
        return self.artifact_node().run(self.artifact_node().planned())

    # What each kind declares:
    def declare(self) -> list[Node]:
        """Every stage the product is made of, each after those it needs: the product's own
        (artifact, suites, second build) and those it shares with others."""
        raise NotImplementedError

    def _artifact_node(self) -> Node:
        """The stage that publishes the product."""
        raise NotImplementedError

    def suites(self) -> list[str]:
        """The suites the nightly runs against the product, and that its verification reports on."""
        raise NotImplementedError

    def verify(self, suites: Sequence[str], strict: bool, workers: int) -> dict:
        """Build the artifact if need be, then run the suites against it and report."""
        raise NotImplementedError

    def is_verified(self, suites: Sequence[str], strict: bool) -> bool:
        raise NotImplementedError

    def recipes(self) -> list[str]:
        """Every recipe whose source the product is built from."""
        raise NotImplementedError

    def own_phases(self, planned: Any) -> list[PhasedBuild]:
        """The phases of the product's own builds (not its libraries' or the baseruby's)."""
        raise NotImplementedError

    # Derived from the nodes:
    def nodes(self) -> list[Node]:
        """The product's stages, declared once per product."""
        if self not in _NODES:
            _NODES[self] = self.declare()
        return _NODES[self]

    def node(self, stage: str, instance: str | None = None) -> Node:
        return next(node for node in self.nodes() if node.stage == stage and node.instance == (instance or self.name))

    def artifact_node(self) -> Node:
        return self.node("artifact")

    def suite_node(self, suite: str) -> Node:
        return self.node("suite", f"{self.name}-{suite}")

    def build_seconds(self) -> float:
        """How long the product's own builds took, as the stamps of their phases recorded it."""
        planned = self.plan(fetch_missing=False)
        phases = self.own_phases(planned) if planned is not None else []
        return round(sum(sum(each.seconds().values()) for each in phases), 1)

    def _artifact(self, doc: str, deps: Sequence[str], plan: Callable[[bool], Any],
                  run: Callable[[Any], Artifact], builds: Callable[[Any], Sequence[KeyedBuild]] = _nothing) -> Node:
        """The stage that publishes the product: its manifest is the target (a product task's file_dep)."""
        return Node("artifact", self.name, doc, tuple(deps), plan, run=run,
                    done=builders.is_published, builds=builds, output=lambda: artifact_path(self.name),
                    targets=(manifest(self.name),))

    def _suites(self, artifact: Node, suites: Sequence[str], verification: Callable[[Any], Any],
                run_suite: Callable[..., None], deps: Sequence[str] = ()) -> list[Node]:
        """One node per suite, after the artifact and the twin (bootstraptest's driver, the endurance
        suite's reference); its results are kept for every report that selects it."""

        def done(suite: str) -> Callable[[Any], bool]:
            return lambda planned: artifact.done(planned) and suite_is_verified(verification(planned), suite)
        return [Node("suite", f"{self.name}-{suite}", f"run {suite} against {self.name}",
                     (artifact.task, f"twin:{self.series}", *deps), artifact.plan,
                     run=functools.partial(run_suite, suite=suite), done=done(suite),
                     output=functools.partial(results_path, self.name, suite)) for suite in suites]

    def _reproduce(self, artifact: Node) -> Node:
        return Node("reproduce", self.name, f"build {self.name} again elsewhere, without the compiler cache, and compare",
                    (artifact.task,), lambda fetch_missing: self,
                    run=reproduce.reproduce, done=lambda product: reproduce.kept_verdict(product) is not None,
                    output=functools.partial(reproduce.verdict_path, self.name))


_NODES: dict[Product, list[Node]] = {}


def manifest(name: str) -> Path:
    """An artifact's manifest: the artifact stage's target, the product task's file_dep, so that
    the product task runs (and prints its path) when the stage published it anew."""
    return artifact_path(name) / "manifest.json"


@dataclass(frozen=True)
class Profile(Product):
    """ruby.wasm with a profile's extensions: `doit ruby_wasm --profile <target>`."""
    kind: ClassVar[str] = "profile"

    def _artifact_node(self) -> Node:
        # With the series' bundled gems, the stage also builds their extensions, links them into
        # ruby.wasm and installs the gems (RubyArtifact.own_builds).
        return self._artifact(f"assemble and smoke-check {self.name}", [f"make:{self.series}-{self.target}"],
                              _planned(_ruby_artifact, self.series, self.target, self.provider),
                              run=builders.publish_ruby, builds=lambda artifact: artifact.own_builds())

    def declare(self) -> list[Node]:
        artifact = self._artifact_node()
        return [*ruby_nodes(self.series, self.target, self.provider), artifact,
                *self._suites(artifact, self.runnable_suites(), builders.ruby_verification, self._run_suite),
                self._reproduce(artifact)]

    def runnable_suites(self) -> list[str]:
        """Ruby's suites, and with the series' bundled gems, the tests their packages carry (minitest)."""
        with_bundled = recipe.ruby_recipe(self.series).profile(self.target).bundled_gems and \
            load_plan(f"ruby-{self.series}").minitest_files
        return [*RUBY_SUITES, *(["minitest"] if with_bundled else [])]

    def _run_suite(self, artifact: builders.RubyArtifact, suite: str) -> None:
        builders.verify_ruby_suite(artifact, suite, os.cpu_count() or 1)

    def suites(self) -> list[str]:
        return list(recipe.ruby_recipe(self.series).profiles[self.target].suites or self.runnable_suites())

    def verify(self, suites: Sequence[str], strict: bool, workers: int) -> dict:
        return builders.verify_ruby_wasm(self.artifact_node().planned(), list(suites), strict, workers)

    def is_verified(self, suites: Sequence[str], strict: bool) -> bool:
        artifact = self.plan(fetch_missing=False)
        return artifact is not None and self.artifact_node().done(artifact) and \
            is_verified(builders.ruby_verification(artifact), list(suites), strict)

    def recipes(self) -> list[str]:
        libraries_named = recipe.ruby_recipe(self.series).profile(self.target).libraries
        return [f"ruby-{self.series}", *(lib.name for lib in recipe.with_deps(libraries_named, "library"))]

    def own_phases(self, artifact: builders.RubyArtifact) -> list[PhasedBuild]:
        return [artifact.build.phases, *(build.phases for build in artifact.own_builds())]


@dataclass(frozen=True)
class Gem(Product):
    """ruby.wasm with a gem's extension prelinked and its Ruby files on the load path: `doit ext:<target>`."""
    kind: ClassVar[str] = "ext"

    @property
    def recipe(self) -> recipe.Recipe:
        return recipe.load_kind(self.target, "gem")

    @property
    def profile(self) -> str:
        return self.recipe.ruby_profile or DEFAULT_PROFILE

    def _artifact_node(self) -> Node:
        return self._artifact(f"assemble and smoke-check {self.name}",
                              [f"link:{self.series}-{self.target}", *(f"gem:{dep}" for dep in self.recipe.deps)],
                              _planned(_ext, self.series, self.target, self.provider), run=builders.publish_ext)

    def declare(self) -> list[Node]:
        instance = f"{self.series}-{self.target}"
        test_deps = self.test_deps()
        linked = Node("link", instance, f"link ruby.wasm with {self.target}'s extension (Asyncify)",
                      (f"extension:{instance}",), _planned(_ext, self.series, self.target, self.provider),
                      run=lambda ext: link.link(ext.link, [gems.build_extension(ext.extension)]),
                      done=lambda ext: ext.link.phases.done("link"), builds=lambda ext: (ext.link,))
        artifact = self._artifact_node()
        suites = self._suites(artifact, builders.GEM_SUITES, self._verification, self._run_suite,
                              [f"gem:{dep}" for dep in test_deps]) if self.tested() else []
        return [*ruby_nodes(self.series, self.profile, self.provider), *library_nodes(self.recipe.libraries, self.provider),
                *gem_nodes([self.target, *test_deps]), extension_node(self.series, self.target, self.provider), linked,
                artifact, *suites, self._reproduce(artifact)]

    def tested(self) -> bool:
        """Whether the gem has a verification plan (verification/gem-<name>.toml) for its artifact."""
        return (PLANS_DIR / f"gem-{self.target}.toml").exists()

    def test_deps(self) -> list[str]:
        return load_plan(f"gem-{self.target}").test_deps if self.tested() else []

    def _verification(self, ext: builders.ExtProduct) -> Any:
        return builders.ext_verification(ext, fetch_missing=False)

    def _run_suite(self, ext: builders.ExtProduct, suite: str) -> None:
        builders.verify_ext_suite(ext, suite, os.cpu_count() or 1)

    def suites(self) -> list[str]:
        """None beyond its smoke checks for a gem without a test plan."""
        return list(builders.GEM_SUITES) if self.tested() else []

    def verify(self, suites: Sequence[str], strict: bool, workers: int) -> dict:
        return builders.verify_ext(self.artifact_node().planned(), strict, workers)

    def is_verified(self, suites: Sequence[str], strict: bool) -> bool:
        ext = self.plan(fetch_missing=False)
        if ext is None or not self.artifact_node().done(ext):
            return False
        verification = builders.ext_verification(ext, fetch_missing=False)
        return verification is not None and is_verified(verification, list(suites), strict)

    def recipes(self) -> list[str]:
        gem_recipes = recipe.with_deps([self.target], "gem")
        named = [*recipe.ruby_recipe(self.series).profile(self.profile).libraries,
                 *(library for gem in gem_recipes for library in gem.libraries)]
        return [f"ruby-{self.series}", *(each.name for each in [*gem_recipes, *recipe.with_deps(named, "library")])]

    def own_phases(self, ext: builders.ExtProduct) -> list[PhasedBuild]:
        return [ext.extension.phases, ext.link.phases]


@dataclass(frozen=True)
class RecipeBox(Product):
    """A box the series' recipe names ([[box]]): `doit box` builds any other the same way."""
    kind: ClassVar[str] = "box"

    @property
    def spec(self) -> recipe.BoxSpec:
        return builders.recipe_boxes(self.series)[self.target]

    def _artifact_node(self) -> Node:
        spec = self.spec
        return self._artifact(f"build, pre-initialize and smoke-check the box {self.name}",
                              [f"make:{self.series}-{spec.profile}", *(f"extension:{self.series}-{gem}" for gem in spec.gems),
                               *(f"gem:{gem.name}" for gem in recipe.with_deps(spec.gems, "gem"))],
                              _planned(_box, self.series, self.target, self.provider), run=builders.publish_box,
                              builds=lambda box: box.own_builds())

    def declare(self) -> list[Node]:
        spec = self.spec
        with_extension = [gem.name for gem in recipe.with_deps(spec.gems, "gem") if gem.extension]
        extensions = [extension_node(self.series, gem, self.provider) for gem in spec.gems if gem in with_extension]
        libraries_named = [lib for gem in spec.gems for lib in recipe.load_kind(gem, "gem").libraries]
        artifact = self._artifact_node()
        return [*ruby_nodes(self.series, spec.profile, self.provider), *library_nodes(libraries_named, self.provider),
                *gem_nodes(spec.gems), *extensions, artifact,
                *self._suites(artifact, self.suites(), builders.box_verification, self._run_suite),
                self._reproduce(artifact)]

    def _run_suite(self, box: builders.BoxProduct, suite: str) -> None:
        builders.verify_box_suite(box, suite, os.cpu_count() or 1)

    def suites(self) -> list[str]:
        """Ruby's suites run against a box of a profile without gems, as against the profile's
        ruby.wasm; a box with gems gets its smoke checks (the gems' own, among them)."""
        spec = self.spec
        return [] if spec.gems else list(recipe.ruby_recipe(self.series).profiles[spec.profile].suites or RUBY_SUITES)

    def verify(self, suites: Sequence[str], strict: bool, workers: int) -> dict:
        return builders.verify_box(self.artifact_node().planned(), list(suites), strict, workers)

    def is_verified(self, suites: Sequence[str], strict: bool) -> bool:
        box = self.plan(fetch_missing=False)
        return box is not None and self.artifact_node().done(box) and \
            is_verified(builders.box_verification(box), list(suites), strict)

    def recipes(self) -> list[str]:
        spec = self.spec
        gem_recipes = recipe.with_deps(spec.gems, "gem")
        named = [*recipe.ruby_recipe(self.series).profile(spec.profile).libraries,
                 *(library for gem in gem_recipes for library in gem.libraries)]
        return [f"ruby-{self.series}", "wizer", *(each.name for each in [*gem_recipes, *recipe.with_deps(named, "library")])]

    def own_phases(self, box: builders.BoxProduct) -> list[PhasedBuild]:
        return [box.build.phases]


KINDS: dict[str, type[Product]] = {kind.kind: kind for kind in (Profile, Gem, RecipeBox)}


def product(kind: str, series: str, target: str, provider: str = "auto") -> Product:
    return KINDS[kind](series, target, provider)


# --- which products there are ---------------------------------------------------------------------

def gems_with_extensions() -> list[str]:
    """The gem recipes with a C extension to prelink, of those that load (one that does not is
    named by every command that loads the recipes, and by the tasks that need it)."""
    loaded, _ = recipe.load_all()
    return sorted(gem.name for gem in loaded if gem.kind == "gem" and gem.extension)


def products(series: str, provider: str = "auto") -> list[Product]:
    """Every product of a Ruby series: its profiles, its gems, the boxes its recipe names."""
    return [*(Profile(series, name, provider) for name in recipe.ruby_recipe(series).profiles),
            *(Gem(series, name, provider) for name in gems_with_extensions()),
            *(RecipeBox(series, target, provider) for target in builders.recipe_boxes(series))]


def series_names() -> list[str]:
    return [name.removeprefix("ruby-") for name in recipe.names_of_kind("ruby")]


def all_products(provider: str = "auto") -> Iterator[Product]:
    """The products of every Ruby series."""
    for series in series_names():
        yield from products(series, provider)


def planned_builds(items: Sequence[Product]) -> Iterator[KeyedBuild]:
    """The keyed builds the products are made of, planned from cached inputs (those of a node
    whose inputs are not all cached are not)."""
    for item in items:
        for node in item.nodes():
            planned = node.plan(False)
            if planned is not None:
                yield from node.builds(planned)


# --- the second build's process -------------------------------------------------------------------

def main() -> int:
    """`python -m toolchain.pipeline build-one <kind> <series> <target>`: the nightly's second build."""
    parser = argparse.ArgumentParser(description="Build one product (the nightly's second build).")
    parser.add_argument("command", choices=["build-one"])
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("series")
    parser.add_argument("target")
    parser.add_argument("--toolchain", default="auto")
    options = parser.parse_args()
    try:
        product(options.kind, options.series, options.target, options.toolchain).build()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
