"""The nightly reproducible build (doit nightly).

Every artifact whose inputs are reachable (each profile of the Ruby series, and each gem with
an extension) is built, verified with its suites, then built a second time by an independent
process under another build root and artifact root, with the same clean environment but no
compiler cache, and the two are compared file by file (wasm files section by section). The
release directory holds the artifacts, one deterministic .tar.gz each, SHA256SUMS, each manifest
and verification report, a JSON build record and a summary; `releases/latest` points at the newest.

The inputs must match the committed lock file (toolchain/inputs/lock.py). A second run with nothing
changed does no build work: the record of the last release names every artifact's key.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import product
from ..binary_cache.remote import BINARY_CACHE_ENV
from ..build import cruby
from ..build.compiler_cache import COMPILER_CACHE_ENV
from ..errors import UserError
from ..inputs import fetch, lock, recipe
from ..inputs.extract import newest_mtime
from ..digests import sha256_file
from ..paths import ARTIFACT_ROOT_ENV, BUILD_ROOT_ENV, cache_dir, cache_root
from ..run.runner import DEFAULT_PROFILE, Artifact, artifact_path
from ..steps import replace_dir, run_guarded, say, step, write_atomic
from ..verify.known_failures import PLANS_DIR
from ..verify.suites import RUBY_SUITES
from ..verify.verification import verification_dir
from .artifact import is_current as artifact_is_current
from .release import compare_trees, deterministic_tarball, sha256sums

RECORD = "build-record.json"


@dataclass(frozen=True)
class Product:
    """One artifact of the nightly: a profile of a Ruby series, a gem prelinked into one, or a box
    the series' recipe names."""
    kind: str  # "profile", "ext" or "box"
    series: str
    target: str  # the profile's or the gem's name, or the box's after ruby-<series>-

    @property
    def name(self) -> str:
        return f"ruby-{self.series}-{self.target}"

    def build(self, provider: str) -> Artifact:
        if self.kind == "profile":
            return product.build_ruby_wasm(self.series, self.target, provider)
        if self.kind == "box":
            planned = product.plan_recipe_box(self.series, self.target, provider)
            assert planned is not None
            return product.build_box(planned)
        return product.build_ext(self.target, self.series, provider)

    def key(self, provider: str) -> str | None:
        """The artifact's build key from cached inputs only; None if a source is not cached."""
        if self.kind == "profile":
            build = cruby.plan(self.series, self.target, provider, fetch_missing=False, quiet=True)
            return build.key if build else None
        if self.kind == "box":
            planned = product.plan_recipe_box(self.series, self.target, provider, fetch_missing=False, quiet=True)
            return planned.key if planned else None
        ext = product.plan_ext(self.target, self.series, provider, fetch_missing=False, quiet=True)
        return ext.key if ext else None

    def suites(self) -> list[str]:
        """The suites the nightly runs against the product: none beyond its smoke checks for a gem
        without a test plan."""
        if self.kind == "profile":
            return list(recipe.ruby_recipe(self.series).profiles[self.target].suites or RUBY_SUITES)
        if self.kind == "box":
            return product.box_suites(self.series, self.target)
        return product.GEM_SUITES if (PLANS_DIR / f"gem-{self.target}.toml").exists() else []

    def recipes(self) -> list[str]:
        """Every recipe whose source the product is built from."""
        if self.kind == "box":
            spec = product.recipe_boxes(self.series)[self.target]
            gems, profile = recipe.with_deps(spec.gems, "gem"), spec.profile
        else:
            gems = recipe.with_deps([self.target], "gem") if self.kind == "ext" else []
            profile = (gems[0].ruby_profile or DEFAULT_PROFILE) if gems else self.target
        libraries = recipe.with_deps([*recipe.ruby_recipe(self.series).profile(profile).libraries,
                                      *(library for gem in gems for library in gem.libraries)], "library")
        return [f"ruby-{self.series}", *(["wizer"] if self.kind == "box" else []),
                *(each.name for each in [*gems, *libraries])]

    def build_seconds(self, provider: str) -> float:
        """How long the product's own build took (not its libraries' or the baseruby's), as the
        stamps of its phases recorded it."""
        if self.kind == "profile":
            build = cruby.plan(self.series, self.target, provider, fetch_missing=False, quiet=True)
            phases = [build.phases] if build else []
        elif self.kind == "box":
            planned = product.plan_recipe_box(self.series, self.target, provider, fetch_missing=False, quiet=True)
            phases = [planned.build.phases] if planned else []
        else:
            ext = product.plan_ext(self.target, self.series, provider, fetch_missing=False, quiet=True)
            phases = [ext.extension.phases, ext.link.phases] if ext else []
        return round(sum(sum(each.seconds().values()) for each in phases), 1)

    def verify(self, provider: str, workers: int) -> dict | None:
        """Run the product's suites; None when it has none beyond the smoke checks of its build."""
        if not self.suites():
            return None
        if self.kind == "profile":
            return product.verify_ruby_wasm(self.series, self.target, provider, self.suites(), False, workers)
        if self.kind == "box":
            return product.verify_recipe_box(self.series, self.target, provider, self.suites(), False, workers)
        return product.verify_ext(self.target, self.series, provider, False, workers)


def products(series: str) -> list[Product]:
    profiles = recipe.ruby_recipe(series).profiles
    gems = [name for name in recipe.names_of_kind("gem") if recipe.load(name).extension]
    return ([Product("profile", series, name) for name in profiles] + [Product("ext", series, name) for name in gems]
            + [Product("box", series, target) for target in product.recipe_boxes(series)])


# --- the second, independent build ---------------------------------------------------------------

def repro_roots() -> tuple[Path, Path]:
    """The build root and artifact root of the second build: another absolute path than the first's."""
    base = cache_root() / "repro"
    return base / "build", base / "artifacts"


def build_again(item: Product, provider: str) -> Path:
    """Build the product in a separate process under the second roots; return its artifact directory."""
    build_root, artifacts = repro_roots()
    # Without the compiler cache, so the comparison also proves the cache changes no byte, and
    # without the binary cache, which would hand it the first build's bytes.
    env = {**os.environ, BUILD_ROOT_ENV: str(build_root), ARTIFACT_ROOT_ENV: str(artifacts), COMPILER_CACHE_ENV: "off"}
    env.pop(BINARY_CACHE_ENV, None)
    command = [sys.executable, "-m", "toolchain.publish.nightly", "build-one", item.kind, item.series, item.target,
               "--toolchain", provider]
    result = run_guarded(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = cache_dir("repro") / f"{item.name}.log"
    write_atomic(log, result.stdout.encode())
    if result.returncode != 0:
        raise UserError(f"The second build of {item.name} failed (exit {result.returncode}). Last lines:\n"
                        f"{result.stdout.strip()[-2000:]}\nFull log: {log}")
    return artifacts / item.name


def reproducibility(item: Product, first: Artifact, second: Path) -> dict:
    """Compare the two builds' outputs: ruby.wasm and the tree under root/."""
    differences = compare_trees(first.directory, second)
    outputs = [d for d in differences if d["file"] == "ruby.wasm" or d["file"].startswith("root/")]
    return {"reproducible": not outputs, "second_build": str(second), "differences": outputs}


def verdict_path(name: str) -> Path:
    return cache_dir("repro") / f"{name}.json"


def kept_verdict(item: Product, provider: str) -> dict | None:
    """The comparison made for the artifact as it is published now, if one was kept."""
    path = verdict_path(item.name)
    key = item.key(provider)
    if key is None or not path.exists() or not artifact_is_current(artifact_path(item.name), key):
        return None
    verdict = json.loads(path.read_text())
    return verdict if verdict.get("key") == key else None


def reproduce(item: Product, provider: str) -> dict:
    """Build the published artifact a second time and compare, once per build key: the verdict is
    kept beside the second builds (the reproduce:<artifact> stage, then the nightly, read it)."""
    kept = kept_verdict(item, provider)
    if kept is not None:
        return kept
    first = item.build(provider)  # current already when the artifact stage ran first
    started = time.monotonic()
    with step(f"second build of {item.name} (independent build root, no compiler cache)"):
        second = build_again(item, provider)
    verdict = {"key": json.loads(first.manifest.read_text())["build_key"], **reproducibility(item, first, second),
               "seconds": round(time.monotonic() - started, 1)}
    say(f"    {item.name}: reproducible: {'yes' if verdict['reproducible'] else 'NO'}")
    write_atomic(verdict_path(item.name), (json.dumps(verdict, indent=2) + "\n").encode())
    return verdict


# --- the release --------------------------------------------------------------------------------

def source_date_epoch(series: str) -> int:
    """SOURCE_DATE_EPOCH if set, else the newest time in the Ruby source archive (from the inputs)."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    return newest_mtime(fetch.fetch_recipe(recipe.ruby_recipe(series))[1])


def releases_dir() -> Path:
    return cache_dir("releases")


def latest_record() -> dict | None:
    path = releases_dir() / "latest" / RECORD
    return json.loads(path.read_text()) if path.exists() else None


def _tests(summary: dict | None) -> dict:
    if summary is None:
        return {}
    keys = ("run", "passed", "known_failures", "unexpected", "fixed", "skipped")
    return {suite["suite"]: {k: suite[k] for k in keys} for suite in summary["suites"]}


def publish(series: str, entries: list[dict], artifacts: dict[str, Artifact], inputs: dict) -> Path:
    """Write the dated release directory and point releases/latest at it."""
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    final = releases_dir() / f"nightly-{date}"
    staging = releases_dir() / f".nightly-{date}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    epoch = source_date_epoch(series)
    with step(f"release {final.name}"):
        for entry in entries:
            if entry.get("skipped"):
                continue
            artifact = artifacts[entry["name"]]
            shutil.copy2(artifact.wasm, staging / f"{entry['name']}.wasm")
            shutil.copy2(artifact.manifest, staging / f"{entry['name']}.manifest.json")
            deterministic_tarball(artifact.directory, staging / f"{entry['name']}.tar.gz", epoch)
            if entry.get("verification"):
                shutil.copy2(Path(entry["verification"]), staging / f"{entry['name']}.verification.json")
            entry["tarball_sha256"] = sha256_file(staging / f"{entry['name']}.tar.gz")
        record = {"release": final.name, "date": date, "source_date_epoch": epoch,
                  "lock_sha256": lock.lock_digest(inputs), "inputs": inputs, "products": entries,
                  "step_seconds": round(sum(sum(e["seconds"].values()) for e in entries if not e.get("skipped")), 1),
                  "ok": all(e.get("skipped") or (e["verified"] and e["reproducible"]) for e in entries)}
        write_atomic(staging / RECORD, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
        write_atomic(staging / "summary.txt", summary_text(record).encode())
        write_atomic(staging / "SHA256SUMS", sha256sums(staging).encode())
        replace_dir(staging, final)
        link = releases_dir() / ".latest.new"
        link.unlink(missing_ok=True)
        link.symlink_to(final.name)
        os.replace(link, releases_dir() / "latest")
    return final


def summary_text(record: dict) -> str:
    lines = [f"{record['release']}: {'ok' if record['ok'] else 'FAILED'}; its steps took {record['step_seconds']:.0f}s "
             "in all (side by side with doit -n)",
             f"lock {record['lock_sha256'][:16]}, SOURCE_DATE_EPOCH {record['source_date_epoch']}", ""]
    for entry in record["products"]:
        if entry.get("skipped"):
            lines.append(f"{entry['name']:<24} skipped: {entry['skipped']}")
            continue
        tests = ", ".join(f"{suite} {t['passed']}/{t['run']} ({t['unexpected']} unexpected)"
                          for suite, t in entry["tests"].items()) or "smoke checks only"
        lines.append(f"{entry['name']:<24} {entry['outputs']['ruby.wasm']['sha256']}  "
                     f"reproducible: {'yes' if entry['reproducible'] else 'NO'}; {tests}")
    return "\n".join(lines) + "\n"


# --- the nightly ---------------------------------------------------------------------------------

def is_current(series: str, provider: str) -> bool:
    """True when the latest release was made from exactly the current inputs and keys, and passed."""
    record = latest_record()
    if record is None or not record.get("ok"):
        return False
    try:
        inputs = lock.check_lock(provider)
    except UserError:
        return False
    keys = {item.name: item.key(provider) for item in products(series)}
    recorded = {entry["name"]: entry.get("key") for entry in record["products"] if not entry.get("skipped")}
    return record["lock_sha256"] == lock.lock_digest(inputs) and all(keys.get(n) == k for n, k in recorded.items()) \
        and set(recorded) == {n for n, k in keys.items() if k is not None}


def _entry(item: Product, provider: str, workers: int) -> tuple[dict, Artifact | None]:
    try:
        artifact = item.build(provider)
    except UserError as error:
        if "Could not fetch any source" in str(error):
            say(f"{item.name}: skipped, its inputs are not reachable")
            return {"name": item.name, "skipped": str(error)}, None
        raise
    summary = item.verify(provider, workers)
    verdict = reproduce(item, provider)
    # each step's own duration, whichever process ran it: the stages' stamps and kept results
    timings = {"build": item.build_seconds(provider),
               "verify": round(sum(suite["seconds"] for suite in summary["suites"]), 1) if summary else 0.0,
               "reproduce": verdict.pop("seconds")}
    del verdict["key"]
    manifest = json.loads(artifact.manifest.read_text())
    report = verification_dir(item.name) / "summary.json"
    return {"name": item.name, "kind": item.kind, "key": manifest["build_key"], "outputs": manifest["outputs"],
            "seconds": timings, "tests": _tests(summary), "verified": summary is None or summary["ok"],
            "verification": str(report) if summary else None, **verdict}, artifact


def run_nightly(series: str, provider: str, workers: int) -> Path:
    inputs = lock.check_lock(provider)
    entries, artifacts = [], {}
    for item in products(series):
        with step(f"nightly: {item.name}"):
            entry, artifact = _entry(item, provider, workers)
        entries.append(entry)
        if artifact:
            artifacts[item.name] = artifact
    release = publish(series, entries, artifacts, inputs)
    record = json.loads((release / RECORD).read_text())
    say((release / "summary.txt").read_text() + f"release: {release}")
    if not record["ok"]:
        raise UserError(f"The nightly found artifacts that are not reproducible or not verified; see "
                        f"{release / RECORD} (differences per file and wasm section).")
    return release


def main() -> int:
    """`python -m toolchain.publish.nightly build-one <kind> <series> <target>`: the second build's process."""
    parser = argparse.ArgumentParser(description="Build one nightly product (used for the second build).")
    parser.add_argument("command", choices=["build-one"])
    parser.add_argument("kind", choices=["profile", "ext", "box"])
    parser.add_argument("series")
    parser.add_argument("target")
    parser.add_argument("--toolchain", default="auto")
    options = parser.parse_args()
    try:
        Product(options.kind, options.series, options.target).build(options.toolchain)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
