"""doit push: upload to the binary cache, signed, what this machine has built for the current
recipes' products (C libraries, native Rubies, Ruby builds, gem extensions, links, and each
product's published artifact) and the downloaded sources the recipes pin; with `--product`, only
what the named products are made of. Boxes built with `doit box` go too (their artifacts). What
the server holds already under a trusted signature is skipped, so pushing again costs a few
requests per entry.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

from . import binary_cache, gc, pipeline
from .binary_cache import trust
from .binary_cache.remote import Remote
from .errors import SourceUnavailable, UserError
from .inputs import fetch
from .inputs.recipe import load_all
from .paths import artifact_root
from .publish.artifact import cache_entry as artifact_entry
from .publish.artifact import is_current
from .steps import say, step


def chosen_products(names: list[str], provider: str = "auto") -> list[pipeline.Product]:
    """The products named (all when none is), each checked to exist."""
    known = list(pipeline.all_products(provider))
    unknown = sorted(set(names) - {item.name for item in known})
    if unknown:
        raise UserError(f"--product {','.join(unknown)}: no such product. The products: "
                        f"{', '.join(item.name for item in known)}.")
    return [item for item in known if not names or item.name in names]


def built_entries(names: list[str]) -> Iterator[binary_cache.Entry]:
    """The entries of every complete build the products are made of, each once, for each
    toolchain this machine has prepared."""
    seen = set()
    for provider in gc.prepared_providers():
        for build in pipeline.planned_builds(chosen_products(names, provider)):
            entry = build.cache_entry()
            if entry and entry.remote_name not in seen and binary_cache.is_complete(entry):
                seen.add(entry.remote_name)
                yield entry


def artifact_entries(names: list[str]) -> Iterator[binary_cache.Entry]:
    """Every published artifact (of the named products, if any are) whose files still match
    its manifest and SHA256SUMS."""
    for manifest in sorted(artifact_root().glob("*/manifest.json")):
        key = json.loads(manifest.read_text()).get("build_key", "")
        if (not names or manifest.parent.name in names) and is_current(manifest.parent, key):
            yield artifact_entry(manifest.parent.name, key)


def push_sources(remote: Remote) -> int:
    """Upload the stored sources the recipes pin; their pinned sha256 vouches for them."""
    pushed = 0
    recipes, _ = load_all()
    for source in {source for loaded in recipes for source in loaded.sources}:
        stored = fetch.verified_in_store(source)
        path = fetch.stored_name(source)
        if stored and not remote.has(path):
            remote.put(path, stored)
            pushed += 1
    return pushed


def push(names: list[str]) -> None:
    remote = binary_cache.required_remote()
    trust.signing_key()  # before any work: a push without one would pack, then fail
    chosen_products(names)  # before any work: an unknown name is one paragraph
    with step(f"push to the binary cache {remote.shown}"):
        counts = {"pushed": 0, "present": 0}
        try:
            for entry in [*built_entries(names), *artifact_entries(names)]:
                uploaded = binary_cache.push(remote, entry)
                counts["pushed" if uploaded else "present"] += 1
                say(f"    {'pushed' if uploaded else 'there already'}: {entry.shown}")
            sources = push_sources(remote)
        except SourceUnavailable as failure:
            raise UserError(f"The binary cache {remote.shown} stopped answering while pushing ({failure}). What "
                            "was pushed is whole (an index goes up after its archive); push again to go on.") from None
    say(f"push: {counts['pushed']} entries uploaded, {counts['present']} there already, {sources} sources uploaded")
