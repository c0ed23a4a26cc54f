"""The README and docs/ as a reader follows them: every relative link leads to a file (and, with an
anchor, to a heading of it), and every task `doit list` shows is documented in docs/tasks.md."""
from __future__ import annotations

import re
from pathlib import Path

from cli import doit

from toolchain.paths import PROJECT_ROOT

PAGES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#+ (.*)$", re.MULTILINE)


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(page.read_text()) if not re.match(r"^[a-z]+:", target)]


def test_the_docs_exist_and_the_readme_is_a_page():
    assert len(PAGES) >= 10
    assert len(PAGES[0].read_text().splitlines()) <= 150


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in relative_links(page):
            path, _, fragment = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no {linked})")
            elif fragment and fragment not in {anchor(h) for h in HEADING.findall(linked.read_text())}:
                broken.append(f"{page.name}: {target} (no heading #{fragment} in {linked.name})")
    assert not broken, "\n".join(broken)
    assert sum(len(relative_links(page)) for page in PAGES) >= 13


def test_every_task_doit_lists_is_documented():
    listed = doit("list")
    assert listed.returncode == 0, listed.stderr
    tasks = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    assert {"ruby_wasm", "verify", "box", "nightly", "suite"} <= set(tasks)
    documented = (PROJECT_ROOT / "docs" / "tasks.md").read_text()
    missing = [task for task in tasks if f"doit {task}" not in documented and f"{task}:" not in documented]
    assert not missing, f"tasks `doit list` shows that docs/tasks.md does not document: {missing}"
