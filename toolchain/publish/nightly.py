"""The nightly reproducible build (doit nightly).

Every artifact whose inputs are reachable (each profile of the Ruby series, and each gem with
an extension) is built, verified with its suites, then built a second time by an independent
process under another build root and artifact root, with the same clean environment but no
compiler cache, and the two are compared file by file (wasm files section by section). The
release directory holds the artifacts, one deterministic .tar.gz each, SHA256SUMS, each manifest
and verification report, a JSON build record and a summary, and report.html, the page drawn from
it and the releases before it (publish/report.py); `releases/latest` points at the newest.

The inputs must match the committed lock file (toolchain/inputs/lock.py). A second run with nothing
changed does no build work: the record of the last release names every artifact's key.
"""
from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from ..errors import UserError
from ..inputs import fetch, lock, recipe
from ..inputs.extract import newest_mtime
from ..digests import sha256_file
from ..locks import replace_dir
from ..paths import cache_dir
from .. import graph
from ..pipeline import Product, products
from ..run.runner import Artifact
from ..steps import say, step, write_atomic
from ..verify.verification import verification_dir
from .measure import official_figures, start_ms
from . import report
from .release import RECORD, deterministic_tarball, sha256sums
from .reproduce import reproduce


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
                  "official": official_figures(series),
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
                     f"reproducible: {'yes' if entry['reproducible'] else 'NO'}; starts in {entry['start_ms']} ms; {tests}")
    return "\n".join(lines) + "\n"


def write_reports(newest_only: bool = False) -> list[Path]:
    """report.html in every kept release (or the newest only), with the stage graph as it is
    declared now."""
    stages = {task: node.deps for task, node in graph.nodes().items()}
    return report.write_reports(releases_dir(), report.draw_stage_graph(stages), newest_only)


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
    keys = {item.name: item.key() for item in products(series, provider)}
    recorded = {entry["name"]: entry.get("key") for entry in record["products"] if not entry.get("skipped")}
    return record["lock_sha256"] == lock.lock_digest(inputs) and all(keys.get(n) == k for n, k in recorded.items()) \
        and set(recorded) == {n for n, k in keys.items() if k is not None}


def _entry(item: Product, workers: int) -> tuple[dict, Artifact | None]:
    try:
        artifact = item.build()
    except UserError as error:
        if "Could not fetch any source" in str(error):
            say(f"{item.name}: skipped, its inputs are not reachable")
            return {"name": item.name, "skipped": str(error)}, None
        raise
    summary = item.verify(item.suites(), False, workers) if item.suites() else None
    verdict = reproduce(item)
    # each step's own duration, whichever process ran it: the stages' stamps and kept results
    timings = {"build": item.build_seconds(),
               "verify": round(sum(suite["seconds"] for suite in summary["suites"]), 1) if summary else 0.0,
               "reproduce": verdict.pop("seconds")}
    del verdict["key"]
    manifest = json.loads(artifact.manifest.read_text())
    summary_path = verification_dir(item.name) / "summary.json"
    return {"name": item.name, "kind": item.kind, "key": manifest["build_key"], "outputs": manifest["outputs"],
            "seconds": timings, "start_ms": start_ms(artifact), "tests": _tests(summary), "verified": summary is None or summary["ok"],
            "verification": str(summary_path) if summary else None, **verdict}, artifact


def run_nightly(series: str, provider: str, workers: int) -> Path:
    inputs = lock.check_lock(provider)
    entries, artifacts = [], {}
    for item in products(series, provider):
        with step(f"nightly: {item.name}"):
            entry, artifact = _entry(item, workers)
        entries.append(entry)
        if artifact:
            artifacts[item.name] = artifact
    release = publish(series, entries, artifacts, inputs)
    record = json.loads((release / RECORD).read_text())
    write_reports(newest_only=True)  # the releases before it keep their pages
    say((release / "summary.txt").read_text() + f"release: {release}\nreport: {release / report.REPORT}")
    if not record["ok"]:
        raise UserError(f"The nightly found artifacts that are not reproducible or not verified; see "
                        f"{release / RECORD} (differences per file and wasm section).")
    return release
