"""The pipeline declared once: every keyed build a product's plan is made of is one of the
product's stages, which the doit graph builds, gc keeps and push uploads."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from toolchain import pipeline
from toolchain.compile.phases import KeyedBuild

pytestmark = pytest.mark.e2e


def reachable_builds(value: object) -> Iterator[KeyedBuild]:
    """The keyed builds a plan holds, through its dataclass fields (and theirs), each a build
    some builder makes or reads."""
    if isinstance(value, KeyedBuild):
        yield value
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from reachable_builds(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from reachable_builds(getattr(value, field.name))


def test_every_build_a_product_plans_is_one_of_its_stages(full_verification):
    checked = 0
    for item in pipeline.products("3.3"):
        planned = item.plan(fetch_missing=False)
        if planned is None:
            continue  # an input not downloaded on this machine: nothing of it to keep or push
        declared = {build.build_dir for build in pipeline.planned_builds([item])}
        # the plan's own key names the published artifact; what it is made of are builds
        parts = [getattr(planned, field.name) for field in dataclasses.fields(planned)]
        for build in reachable_builds(parts):
            assert build.build_dir in declared, f"{item.name}: {build.label} is planned but no stage makes it"
        checked += 1
    assert checked >= 1
