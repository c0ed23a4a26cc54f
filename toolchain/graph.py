"""The pipeline as doit tasks: one task per stage instance that toolchain/pipeline.py declares,
wired with task_dep.

A stage is up to date when its keyed output exists for the current inputs: the same stamps and
manifests the builds themselves check, found by planning from the cache alone (once per
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
from collections.abc import Iterable, Iterator

from . import pipeline
from .errors import UserError, reporting_user_errors
from .inputs import recipe
from .pipeline import Node
from .steps import say

STAGE_PROVIDER = "auto"
Task = dict


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


def _declared_nodes() -> Iterator[Node]:
    """Every node the loadable recipes declare: a fetch stage per source recipe, a lib and a gem
    stage per library and gem recipe, and every product's stages. A product whose recipes do not
    load declares none (the broken recipe was reported once, and its product task names it)."""
    for loaded in of_kind("ruby") + of_kind("library") + of_kind("gem"):
        yield pipeline.fetch_node(loaded.path.stem)
    for lib in of_kind("library"):
        yield pipeline.library_node(lib.name, STAGE_PROVIDER)
    for gem in of_kind("gem"):
        yield pipeline.gem_node(gem.name)
    for ruby in of_kind("ruby"):
        for item in pipeline.products(ruby.series, STAGE_PROVIDER):
            try:
                yield from item.nodes()
            except UserError:
                continue


@functools.cache
def nodes() -> dict[str, Node]:
    """Each stage's node by task name, once (products share stages: the first declaration serves)."""
    found: dict[str, Node] = {}
    for node in _declared_nodes():
        found.setdefault(node.task, node)
    return found


# The stage's task name is `stage`: doit gives a parameter named `task` the Task object.

@reporting_user_errors
def run_stage(stage: str) -> None:
    node = nodes()[stage]
    node.run(node.planned())


def stage_done(stage: str) -> bool:
    """The stage's output exists for the current inputs (planned from the cache alone)."""
    return nodes()[stage].is_done()


def clean_stage(stage: str) -> None:
    nodes()[stage].clean()


def stage_task(node: Node, known: set[str]) -> Task:
    """A stage's doit task; its action, check and clean-up are module functions with the task's
    name, which doit's multiprocess runner can send to its workers. A dependency on a stage that a
    broken recipe took down is left out: the stage that needed it fails when it runs, naming the
    recipe and the fix."""
    return {"basename": node.stage, "name": node.instance, "doc": node.doc, "actions": [(run_stage, [node.task])],
            "uptodate": [(stage_done, [node.task])], "task_dep": [dep for dep in node.deps if dep in known],
            "targets": [str(target) for target in node.targets], "clean": [(clean_stage, [node.task])],
            "verbosity": 2}


def stage_tasks() -> Iterator[Task]:
    """Every stage task under its stage's basename, after one group task per stage that holds its
    doc; each a fresh dict (doit changes the dicts it is given)."""
    declared = nodes()
    known = set(declared)
    for stage, doc in pipeline.STAGES.items():
        of_stage = [node for node in declared.values() if node.stage == stage]
        if of_stage:
            yield {"basename": stage, "name": None, "doc": doc}
        yield from (stage_task(node, known) for node in of_stage)


def existing(names: Iterable[str]) -> list[str]:
    """Those of the named stages that exist."""
    return [name for name in names if name in nodes()]
