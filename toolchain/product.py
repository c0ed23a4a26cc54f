"""Products: each has a name and one build step, from recipe to verified artifact."""
from __future__ import annotations

from . import cruby
from .artifact import assemble, is_current
from .run import Artifact, artifact_dir
from .steps import say
from .verify import verify_suites


def ruby_wasm_is_current(series: str, profile: str, provider: str) -> bool:
    """Cheap check for the task graph: no download, no build, no network unless nothing is cached."""
    if not (artifact_dir(series, profile) / "manifest.json").exists():
        return False
    return is_current(cruby.plan(series, profile, provider, fetch_missing=False, quiet=True))


def build_ruby_wasm(series: str, profile: str, provider: str) -> Artifact:
    return _build(cruby.plan(series, profile, provider))


def _build(build: cruby.RubyBuild) -> Artifact:
    series, profile = build.recipe.series, build.profile
    say(f"ruby {build.recipe.version}, profile '{profile}' ({len(build.extensions)} extensions), "
        f"source {build.source.filename}, toolchain {build.toolchain.identity}")
    if is_current(build):
        artifact = Artifact(artifact_dir(series, profile))
    else:
        artifact = assemble(build, cruby.build_ruby(build))
    say(f"ruby.wasm: {artifact.wasm}")
    return artifact


def verify_ruby_wasm(series: str, profile: str, provider: str, suites: list[str], strict: bool,
                     workers: int) -> dict:
    """Build the artifact if needed, then run Ruby's own suites against it."""
    build = cruby.plan(series, profile, provider)
    _build(build)
    return verify_suites(build, suites, strict, workers)
