"""How each kind of product is planned, published and verified (toolchain/pipeline.py declares
which products there are and the stages each is made of).

- `ruby-<series>-<profile>` (doit ruby_wasm): CRuby with a profile's extensions prelinked.
- `ruby-<series>-<gem>` (doit ext:<gem>): that ruby.wasm linked again with a gem's C extension,
  carrying the gem's Ruby files (and its run-time dependencies') on the load path.
- `<name>` (doit box --name <name>): one pre-initialized module with ruby, the standard library,
  gems (their extensions prelinked, their Ruby files packed) and an app, needing no directory.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .compile import box, bundled, cruby, gems, link
from .compile.baseruby import build_native
from .compile.cruby import RubyBuild
from .compile.gems import SITE_RUBY, BuiltExtension, ExtensionBuild, GemSource
from .compile.phases import KeyedBuild, dependencies_first
from .errors import UserError
from .inputs import fetch, recipe
from .inputs.providers import host_platform
from .publish.artifact import ArtifactSpec, assemble, is_current, pull_published
from .run.runner import DEFAULT_PROFILE, Artifact, artifact_dir, artifact_path
from .steps import say
from .verify.known_failures import PLANS_DIR, Plan, load_plan
from .verify.verification import Verification, verify_suite, verify_suites

# A gem's artifact runs the gem's own tests (minitest) and the series' endurance programs, which
# its plan takes from the series' plan.
GEM_SUITES = ("minitest", "endurance")


# --- ruby.wasm by profile ----------------------------------------------------------------------

@dataclass(frozen=True)
class RubyArtifact(KeyedBuild):
    """A profile's published ruby.wasm: CRuby's build and, for a profile with the series' bundled
    gems, their extensions prelinked into it and their files and Ruby's commands in its tree."""
    build: RubyBuild
    bundled: bundled.BundledInstall | None = None
    relink: link.LinkBuild | None = None  # with the bundled gems' extensions; None when they have none

    @property
    def name(self) -> str:
        return self.build.name

    @property
    def label(self) -> str:
        return self.name

    def inputs(self) -> dict:
        """A profile without bundled gems is CRuby's build alone: the same inputs, the same key."""
        if self.bundled is None:
            return self.build.inputs()
        return {**self.build.inputs(), "bundled_gems": {"install": self.bundled.key,
                                                        "link": self.relink.key if self.relink else None}}

    def own_builds(self) -> tuple[KeyedBuild, ...]:
        """What the artifact stage builds beyond CRuby: the extensions, the link, the install."""
        return (*(self.relink.extensions if self.relink else ()), *([self.relink] if self.relink else []),
                *([self.bundled] if self.bundled else []))


def plan_ruby_artifact(series: str, profile: str, provider: str, fetch_missing: bool = True,
                       quiet: bool = False) -> RubyArtifact | None:
    build = cruby.plan(series, profile, provider, fetch_missing, quiet)
    if build is None:
        return None
    if not build.recipe.profile(profile).bundled_gems:
        return RubyArtifact(build)
    sources = bundled.sources_with_extensions(build)
    extensions = [gems.plan_extension(source, build, fetch_missing) for source in sources]
    if None in extensions:
        return None
    linked = link.LinkBuild(build, tuple(extensions)) if extensions else None  # type: ignore[arg-type]
    return RubyArtifact(build, bundled.BundledInstall(build, tuple(dict.fromkeys(s.name for s in sources))), linked)


def is_published(planned: RubyArtifact | ExtProduct | BoxProduct) -> bool:
    """The planned product's artifact is published for its current key, and unaltered."""
    return is_current(artifact_path(planned.name), planned.key)


def _bundled_parts(artifact: RubyArtifact, wasm: Path) -> tuple[Path, tuple[tuple[Path, str], ...], tuple[Path, ...]]:
    """The bundled gems' side of an artifact: ruby.wasm with their extensions prelinked, the trees
    the install adds, and the smoke checks of every gem the source lists."""
    if artifact.bundled is None:
        return wasm, (), ()
    if artifact.relink is not None:
        built = [gems.build_extension(ext) for ext in artifact.relink.extensions]
        wasm = link.link(artifact.relink, built)
    bundled.install(artifact.bundled)
    return wasm, artifact.bundled.trees(), (bundled.smoke_script(artifact.bundled),)


def publish_ruby(artifact: RubyArtifact) -> Artifact:
    build = artifact.build
    gems_said = f", the {len(bundled.listed(build))} bundled gems" if artifact.bundled else ""
    say(f"ruby {build.recipe.version}, profile '{build.profile}' ({len(build.extensions)} extensions{gems_said}), "
        f"source {build.source.filename}, toolchain {build.toolchain.identity}")
    directory = artifact_dir(build.recipe.series, build.profile)
    if is_current(directory, artifact.key) or pull_published(artifact.name, artifact.key):
        published = Artifact(directory)
    else:
        cruby.install_ruby(build)
        wasm, trees, smoke_scripts = _bundled_parts(artifact, build.wasm)
        published = assemble(ArtifactSpec(artifact.name, artifact.key, artifact.inputs(), wasm, (build.stdlib, *trees),
                                          build.linked_features(), smoke_scripts))
    say(f"ruby.wasm: {published.wasm}")
    return published


def ruby_verification(artifact: RubyArtifact) -> Verification:
    build = artifact.build
    return Verification(Artifact(artifact_dir(build.recipe.series, build.profile)),
                        load_plan(f"ruby-{build.recipe.series}").for_profile(build.profile), build.source_root, build.twin,
                        build.extensions)


def verify_ruby_wasm(artifact: RubyArtifact, suites: list[str], strict: bool, workers: int) -> dict:
    """Build the artifact if needed, then run Ruby's own suites against it."""
    publish_ruby(artifact)
    build_native(artifact.build.native)  # runs bootstraptest and is the endurance suite's reference
    return verify_suites(ruby_verification(artifact), suites, strict, workers)


def verify_ruby_suite(artifact: RubyArtifact, suite: str, workers: int) -> None:
    """One of Ruby's suites against the published artifact (the artifact stage comes first)."""
    build_native(artifact.build.native)
    verify_suite(ruby_verification(artifact), suite, workers)


# --- ruby.wasm with a gem's extension -----------------------------------------------------------

def gem_smoke_script(name: str) -> Path:
    path = PLANS_DIR / f"gem-{name}-smoke.rb"
    if not path.exists():
        raise UserError(f"Gem '{name}' has no smoke checks: expected {path}. Write checks that exercise "
                        "its extension (see the other gem-*-smoke.rb files); an artifact is published "
                        "only after its smoke checks pass.")
    return path


@dataclass(frozen=True)
class ExtProduct(KeyedBuild):
    """ruby.wasm with one gem's extension: the gem, and the link of its extension into a Ruby build."""
    gem: GemSource
    link: link.LinkBuild

    @property
    def ruby(self) -> RubyBuild:
        return self.link.ruby

    @property
    def extension(self) -> ExtensionBuild:
        return self.link.extensions[0]

    @property
    def name(self) -> str:
        return f"ruby-{self.ruby.recipe.series}-{self.gem.name}"

    @property
    def label(self) -> str:
        return self.name

    def inputs(self) -> dict:
        return {"ruby": self.ruby.inputs(), "link": self.link.inputs(),
                "gems": {gem.name: gem.inputs() for gem in self.gem.with_deps()},
                "extension": self.extension.inputs(),
                "libraries": {lib.name: lib.inputs() for lib in self.extension.all_libraries()},
                "smoke": gem_smoke_script(self.gem.name).read_text()}

    def spec(self, built: BuiltExtension, wasm: Path) -> ArtifactSpec:
        site = SITE_RUBY.format(abi=self.ruby.abi)
        return ArtifactSpec(
            self.name, self.key, self.inputs(), wasm,
            (self.ruby.stdlib, *[(gem.tree() / "lib", site) for gem in self.gem.with_deps()]),
            (*self.ruby.linked_features(), built.feature), (gem_smoke_script(self.gem.name),))


def plan_ext(name: str, series: str, provider: str, fetch_missing: bool = True,
             quiet: bool = False) -> ExtProduct | None:
    gem = gems.plan_gem(name, fetch_missing)
    if gem is None:
        return None
    ruby = cruby.plan(series, gem.recipe.ruby_profile or DEFAULT_PROFILE, provider, fetch_missing, quiet)
    extension = gems.plan_extension(gem, ruby, fetch_missing) if ruby else None
    if ruby is None or extension is None:
        return None
    return ExtProduct(gem, link.LinkBuild(ruby, (extension,)))


def publish_ext(product: ExtProduct) -> Artifact:
    say(f"{product.gem.name} {product.gem.version} ({product.gem.source.filename}) prelinked into "
        f"ruby {product.ruby.recipe.version}, profile '{product.ruby.profile}', toolchain "
        f"{product.ruby.toolchain.identity}")
    directory = artifact_path(product.name)
    if is_current(directory, product.key) or pull_published(product.name, product.key):
        artifact = Artifact(directory)
    else:
        built = gems.build_extension(product.extension)
        wasm = link.link(product.link, [built])
        cruby.install_ruby(product.ruby)
        artifact = assemble(product.spec(built, wasm))
    say(f"ruby.wasm: {artifact.wasm}")
    return artifact


def with_series_endurance(gem_plan: Plan, series_plan: Plan) -> Plan:
    """A gem's plan with the series' endurance programs and their known failures: they run on
    every artifact of the series alike."""
    endurance_known = {key: entry for key, entry in series_plan.known.items() if entry.suite == "endurance"}
    return replace(gem_plan, endurance=series_plan.endurance, known={**gem_plan.known, **endurance_known})


def ext_verification(product: ExtProduct, fetch_missing: bool = True) -> Verification | None:
    """The gem's own tests (verification/gem-<name>.toml) against its artifact; None if a test
    dependency is not cached and fetch_missing is False."""
    plan = with_series_endurance(load_plan(f"gem-{product.gem.name}").for_profile(product.ruby.profile),
                                 load_plan(f"ruby-{product.ruby.recipe.series}"))
    deps = [gems.plan_gem(name, fetch_missing) for name in plan.test_deps]
    if None in deps:
        return None
    return Verification(Artifact(artifact_path(product.name)), plan, product.gem.tree(),
                        product.ruby.twin, product.ruby.extensions, tuple(dep.tree() / "lib" for dep in deps),  # type: ignore[union-attr]
                        tuple(dep.key for dep in deps))  # type: ignore[union-attr]


def _ready_ext_verification(product: ExtProduct) -> Verification:
    """The gem artifact's verification, with what running it needs: the twin and the test gems."""
    build_native(product.ruby.native)
    verification = ext_verification(product)
    assert verification is not None
    return verification


def verify_ext(product: ExtProduct, strict: bool, workers: int) -> dict:
    """Build the gem's artifact if needed, then run the gem's own tests against it."""
    publish_ext(product)
    return verify_suites(_ready_ext_verification(product), list(GEM_SUITES), strict, workers)


def verify_ext_suite(product: ExtProduct, suite: str, workers: int) -> None:
    """One of a gem artifact's suites against the published artifact (the artifact stage comes first)."""
    verify_suite(_ready_ext_verification(product), suite, workers)


# --- boxes ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BoxProduct:
    """A box as a published artifact: its build, and the smoke checks of every gem in it."""
    build: box.BoxBuild

    @property
    def name(self) -> str:
        return self.build.name

    @property
    def key(self) -> str:
        return self.build.key

    def own_builds(self) -> tuple[KeyedBuild, ...]:
        """The box, and what its stage builds of the series' bundled gems (their extensions, install)."""
        build = self.build
        bundled_builds = [ext for ext in build.extensions if not isinstance(ext.gem, GemSource)]
        return (build, *bundled_builds, *([build.bundled] if build.bundled else []))

    def spec(self, built: list[BuiltExtension]) -> ArtifactSpec:
        # The named gems' extensions; the bundled gems' are checked by the bundled gems' smoke checks.
        named = [(ext.name, each) for ext, each in zip(self.build.extensions, built) if isinstance(ext.gem, GemSource)]
        gem_names = [name for name, _ in named]
        inputs = {**self.build.inputs(), "ruby": self.build.ruby.inputs(),
                  "box": {"gems": gem_names, "entry": self.build.app.guest_entry if self.build.app else None}}
        return ArtifactSpec(self.name, self.key, inputs, self.build.wasm, (),
                            (*self.build.ruby.linked_features(), *(each.feature for _, each in named)),
                            (*(gem_smoke_script(name) for name in gem_names),
                             *([bundled.smoke_script(self.build.bundled)] if self.build.bundled else [])))


def plan_box(name: str, gem_names: list[str], app: box.App | None, series: str, profile: str, provider: str,
             fetch_missing: bool = True, quiet: bool = False) -> BoxProduct | None:
    """A box of one Ruby build; every gem named must be prelinked into that profile."""
    artifact = plan_ruby_artifact(series, profile, provider, fetch_missing, quiet)  # with the profile's bundled gems
    planned = [gems.plan_gem(gem, fetch_missing) for gem in gem_names]
    wizer = fetch.resolve(recipe.load_kind("wizer", "toolchain"), fetch_missing, host_platform())
    if artifact is None or None in planned or wizer is None:
        return None
    ruby = artifact.build
    for gem in planned:
        wanted = gem.recipe.ruby_profile or DEFAULT_PROFILE  # type: ignore[union-attr]
        if wanted != profile:
            raise UserError(f"--gems {gem.name}: its recipe {gem.recipe.path} prelinks it into the '{wanted}' "  # type: ignore[union-attr]
                            f"profile, and this box is of the '{profile}' profile. Build the box with "
                            f"--profile {wanted}, or leave {gem.name} out.")  # type: ignore[union-attr]
    extensions = [gems.plan_extension(gem, ruby, fetch_missing) for gem in planned if gem.recipe.extension]  # type: ignore[union-attr]
    if None in extensions:
        return None
    bundled_extensions = artifact.relink.extensions if artifact.relink else ()
    with_deps = dependencies_first(planned, lambda gem: gem.deps)  # type: ignore[arg-type]
    return BoxProduct(box.BoxBuild(box.check_name(name), ruby, tuple(with_deps), (*extensions, *bundled_extensions),  # type: ignore[arg-type]
                                   app, box.Wizer(wizer[1], wizer[0].sha256), artifact.bundled))


def publish_box(product: BoxProduct) -> Artifact:
    build = product.build
    say(f"box {build.name}: ruby {build.ruby.recipe.version} ('{build.ruby.profile}'), gems "
        f"{', '.join(gem.name for gem in build.gems) or 'none'}, app {build.app.directory if build.app else 'none'}, "
        f"toolchain {build.ruby.toolchain.identity}")
    directory = artifact_path(product.name)
    if is_current(directory, product.key) or pull_published(product.name, product.key):
        artifact = Artifact(directory)
    else:
        cruby.build_ruby(build.ruby)
        built = [gems.build_extension(ext) for ext in build.extensions]
        if build.bundled:
            bundled.install(build.bundled)
        box.build_box(build, built)
        artifact = assemble(product.spec(built))
    say(f"box: {artifact.wasm} ({artifact.wasm.stat().st_size:,} bytes)")
    return artifact


# --- the boxes a series' recipe names (the nightly's) ---------------------------------------------

def recipe_boxes(series: str) -> dict[str, recipe.BoxSpec]:
    """The boxes the series' recipe names ([[box]]), by target: the name after `ruby-<series>-`."""
    return {box.default_name(series, spec.profile, spec.gems, None).removeprefix(f"ruby-{series}-"): spec
            for spec in recipe.ruby_recipe(series).boxes}


def plan_recipe_box(series: str, target: str, provider: str, fetch_missing: bool = True,
                    quiet: bool = False) -> BoxProduct | None:
    spec = recipe_boxes(series)[target]
    return plan_box(f"ruby-{series}-{target}", list(spec.gems), None, series, spec.profile, provider, fetch_missing, quiet)


def box_verification(product: BoxProduct) -> Verification:
    """Ruby's suites against the box itself, judged by the series' plan and the box's own known
    failures (verification/box-ruby-<series>.toml: what a box fixes at build time)."""
    ruby = product.build.ruby
    series_plan = load_plan(f"ruby-{ruby.recipe.series}").for_profile(ruby.profile)
    box_plan = load_plan(f"box-ruby-{ruby.recipe.series}").for_profile(ruby.profile)
    return Verification(Artifact(artifact_path(product.name)), replace(series_plan, known={**series_plan.known, **box_plan.known}),
                        ruby.source_root, ruby.twin, ruby.extensions)


def verify_box(product: BoxProduct, suites: list[str], strict: bool, workers: int) -> dict:
    publish_box(product)
    build_native(product.build.ruby.native)
    return verify_suites(box_verification(product), suites, strict, workers)


def verify_box_suite(product: BoxProduct, suite: str, workers: int) -> None:
    build_native(product.build.ruby.native)
    verify_suite(box_verification(product), suite, workers)
