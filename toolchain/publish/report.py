"""The nightly as a page (doit report): `report.html` in each kept release directory, drawn from
the build records of that release and the ones before it.

One static file, readable with no network: every plot is an SVG drawn by matplotlib and written
into the page, the stage graph one drawn by Graphviz's `dot` from the doit task graph. The plots:
tests run and known failures per suite and artifact, known failures by reason, ruby.wasm and box
sizes and start time against the official build, and build, verification and reproduction time
per product, each for the release and across the kept releases.

The page is a view of the release, not part of it: SHA256SUMS does not cover it, so it can be
drawn again (`doit report`) when the kept releases or the page's design change.
"""
from __future__ import annotations

import html
import io
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("svg")  # no display, and SVG is what the page holds
from matplotlib import pyplot  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..errors import UserError  # noqa: E402
from ..steps import write_atomic  # noqa: E402
from ..verify.known_failures import CATEGORIES  # noqa: E402
from .release import RECORD  # noqa: E402

REPORT = "report.html"
VERDICT_COLORS = {"passed": "#3a923a", "known failures": "#e69f00", "unexpected": "#d62728"}
TIME_COLORS = {"build": "#4c72b0", "verify": "#55a868", "reproduce": "#8172b2"}
OFFICIAL_STYLE = {"color": "#555555", "linestyle": "--", "linewidth": 1.2}


@dataclass
class Release:
    """One kept release: its record and the verification summaries beside it."""
    directory: Path
    record: dict
    verifications: dict[str, dict] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.record["release"]

    @property
    def built(self) -> list[dict]:
        """The products the release has (not those skipped for unreachable inputs)."""
        return [entry for entry in self.record["products"] if not entry.get("skipped")]


def load_release(directory: Path) -> Release:
    record = json.loads((directory / RECORD).read_text())
    verifications = {}
    for entry in record["products"]:
        path = directory / f"{entry['name']}.verification.json"
        if path.exists():
            verifications[entry["name"]] = json.loads(path.read_text())
    return Release(directory, record, verifications)


def kept_releases(releases: Path) -> list[Release]:
    """Every release directory with a build record, oldest first (names end in their date)."""
    found = sorted((d for d in releases.glob("nightly-*") if (d / RECORD).is_file()), key=lambda d: d.name)
    return [load_release(d) for d in found]


def write_reports(releases: Path, stage_graph: str, newest_only: bool = False) -> list[Path]:
    """report.html in every kept release (or the newest only: what a nightly adds), each drawn from
    that release and the ones before it."""
    kept = kept_releases(releases)
    if not kept:
        raise UserError(f"No release in {releases} to report on: run `doit nightly` first, which makes one "
                        "(and its report).")
    written = []
    for count in range(len(kept) if newest_only else 1, len(kept) + 1):
        path = kept[count - 1].directory / REPORT
        write_atomic(path, page(kept[:count], stage_graph).encode())
        written.append(path)
    return written


# --- the stage graph ---------------------------------------------------------------------------

STAGE_COLORS = {"fetch": "#dae8fc", "lib": "#d5e8d4", "gem": "#d5e8d4", "native": "#fff2cc",
                "ruby": "#ffe6cc", "artifact": "#f8cecc", "suite": "#e1d5e7", "reproduce": "#f5f5f5"}


def stage_graph_dot(tasks: dict[str, tuple[str, ...]]) -> str:
    """Graphviz source for the stages (task name -> the tasks it comes after), coloured by stage."""
    lines = ["digraph stages {", '  rankdir=LR; node [shape=box, style="rounded,filled", fontname="sans-serif", '
             'fontsize=10]; edge [color="#888888", arrowsize=0.6];']
    for task, deps in sorted(tasks.items()):
        color = STAGE_COLORS.get(task.split(":", 1)[0], "#ffffff")
        lines.append(f'  "{task}" [fillcolor="{color}"];')
        lines.extend(f'  "{dep}" -> "{task}";' for dep in deps if dep in tasks)
    return "\n".join(lines + ["}"]) + "\n"


def draw_stage_graph(tasks: dict[str, tuple[str, ...]]) -> str:
    """The stage graph as SVG, by Graphviz's dot."""
    dot = shutil.which("dot")
    if dot is None:
        raise UserError("doit report draws the stage graph with Graphviz, which is not installed: "
                        "apt-get install graphviz (./dev build and ./dev test install it), then run it again.")
    result = subprocess.run([dot, "-Tsvg"], input=stage_graph_dot(tasks), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise UserError(f"Graphviz could not draw the stage graph: {result.stderr.strip()[-500:]}")
    return inline_svg(result.stdout)


# --- plots -----------------------------------------------------------------------------------

def inline_svg(document: str) -> str:
    """An SVG document as an element for the page: its XML prologue and doctype dropped."""
    return document[document.index("<svg"):]


def svg(figure: Figure, name: str) -> str:
    """The figure as an inline SVG element; ids salted by the plot's name, so that the page's
    several SVGs cannot share one (a clip path of one plot applied to another)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": name, "svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    pyplot.close(figure)
    return inline_svg(buffer.getvalue())


def suites_of(releases: list[Release]) -> list[str]:
    names: dict[str, None] = {}
    for release in releases:
        for entry in release.built:
            names.update(dict.fromkeys(entry["tests"]))
    return list(names)


def tested_products(release: Release, suite: str) -> list[dict]:
    return [entry for entry in release.built if suite in entry["tests"]]


def plot_tests(releases: list[Release]) -> Figure:
    """Per suite: this release's tests per artifact (passed, known failures, unexpected), and the
    tests run and known failures per artifact across the kept releases."""
    suites, latest = suites_of(releases), releases[-1]
    figure, axes = pyplot.subplots(len(suites), 2, figsize=(12, 2.2 * len(suites) + 0.8), squeeze=False)
    for row, suite in zip(axes, suites, strict=True):
        entries = tested_products(latest, suite)
        names = [entry["name"] for entry in entries]
        left = [0] * len(entries)
        for label, key in (("passed", "passed"), ("known failures", "known_failures"), ("unexpected", "unexpected")):
            counts = [entry["tests"][suite][key] for entry in entries]
            row[0].barh(names, counts, left=left, color=VERDICT_COLORS[label], label=label)
            left = [a + b for a, b in zip(left, counts, strict=True)]
        row[0].set_title(f"{suite}: tests in {latest.name}", fontsize=10, loc="left")
        row[0].invert_yaxis()
        for name in names:
            dates, counts = history(releases, lambda r, n=name: _suite_counts(r, n, suite))
            line = row[1].plot(dates, [run for run, _ in counts], marker="o", label=name)[0]
            row[1].plot(dates, [known for _, known in counts], marker="x", linestyle=":", color=line.get_color())
        row[1].set_title(f"{suite}: tests run (solid) and known failures (dotted), by release", fontsize=10, loc="left")
        row[1].set_ylim(bottom=0)
    axes[0][0].legend(fontsize=8, loc="lower right")
    for row in axes:
        row[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    figure.tight_layout()
    return figure


def _suite_counts(release: Release, name: str, suite: str) -> tuple[int, int] | None:
    for entry in release.built:
        if entry["name"] == name and suite in entry["tests"]:
            counts = entry["tests"][suite]
            return counts["run"], counts["known_failures"]
    return None


def history(releases: list[Release], value: Callable[[Release], object | None]) -> tuple[list[str], list]:
    """The dates of the releases that have a value, and value(release) for each."""
    dates, values = [], []
    for release in releases:
        found = value(release)
        if found is not None:
            dates.append(release.record["date"])
            values.append(found)
    return dates, values


def known_by_reason(release: Release, name: str) -> dict[str, int]:
    """An artifact's known failures in the release, by reason, over its suites."""
    totals: dict[str, int] = {}
    for suite in release.verifications.get(name, {}).get("suites", []):
        for reason, count in suite.get("known_by_reason", {}).items():
            totals[reason] = totals.get(reason, 0) + count
    return totals


def plot_reasons(releases: list[Release]) -> Figure:
    """This release's known failures per artifact by reason, and each reason's total by release."""
    latest = releases[-1]
    by_product = {entry["name"]: known_by_reason(latest, entry["name"]) for entry in latest.built}
    by_product = {name: counts for name, counts in by_product.items() if counts}
    # in the plans' order of categories, each with its own colour on every page
    reasons = [reason for reason in CATEGORIES if any(reason in counts for counts in by_product.values())]
    figure, (now, trend) = pyplot.subplots(1, 2, figsize=(12, 0.5 * max(len(by_product), 4) + 1.5))
    colors = pyplot.get_cmap("tab20")  # one colour for each of the plans' categories
    left = [0] * len(by_product)
    for reason in reasons:
        index = CATEGORIES.index(reason)
        counts = [by_product[name].get(reason, 0) for name in by_product]
        now.barh(list(by_product), counts, left=left, color=colors(index % 20), label=reason)
        left = [a + b for a, b in zip(left, counts, strict=True)]
        dates, totals = history(releases, lambda r, why=reason: sum(
            known_by_reason(r, e["name"]).get(why, 0) for e in r.built) or None)
        trend.plot(dates, totals, marker="o", color=colors(index % 20), label=reason)
    now.invert_yaxis()
    now.set_title(f"known failures by reason in {latest.name}", fontsize=10, loc="left")
    trend.set_title("known failures by reason, all artifacts, by release", fontsize=10, loc="left")
    trend.set_ylim(bottom=0)
    trend.legend(fontsize=7, ncols=2)
    figure.tight_layout()
    return figure


def plot_against_official(releases: list[Release], value: Callable[[dict], float | None],
                          official: Callable[[dict], dict[str, float]], unit: str, title: str,
                          log: bool = False) -> Figure:
    """A figure per product of this release (bars with their values, the official build's as
    dashed lines) and the same figure across the kept releases (on a log scale if `log`)."""
    latest = releases[-1]
    entries = [entry for entry in latest.built if value(entry) is not None]
    figure, (now, trend) = pyplot.subplots(1, 2, figsize=(12, 0.45 * max(len(entries), 4) + 1.5))
    bars = now.barh([e["name"] for e in entries], [value(e) for e in entries], color="#4c72b0")
    now.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    now.invert_yaxis()
    for (label, figure_value), dashes in zip(official(latest.record).items(), ((4, 2), (1, 1)), strict=False):
        now.axvline(figure_value, label=f"{label}: {figure_value:.1f}", **{**OFFICIAL_STYLE, "dashes": dashes})
    if official(latest.record):
        now.legend(fontsize=7, loc="lower right")
    now.set_title(f"{title} in {latest.name} ({unit}; dashed: the official build)", fontsize=10, loc="left")
    for entry in latest.built:
        dates, values = history(releases, lambda r, n=entry["name"]: next(
            (value(e) for e in r.built if e["name"] == n), None))
        if values:
            trend.plot(dates, values, marker="o", label=entry["name"])
    for label in official(latest.record):
        dates, values = history(releases, lambda r, k=label: official(r.record).get(k))
        trend.plot(dates, values, marker="s", label=label, **OFFICIAL_STYLE)
    trend.set_title(f"{title} by release ({unit})", fontsize=10, loc="left")
    trend.legend(fontsize=7)
    if log:
        trend.set_yscale("log")
    else:
        trend.set_ylim(bottom=0)
    figure.tight_layout()
    return figure


def wasm_megabytes(entry: dict) -> float:
    return entry["outputs"]["ruby.wasm"]["size"] / 1e6


def official_megabytes(record: dict) -> dict[str, float]:
    figures = record.get("official")
    return {f"{figures['package']} {name}": size / 1e6 for name, size in figures["bytes"].items()} if figures else {}


def official_start(record: dict) -> dict[str, float]:
    figures = record.get("official")
    return {f"{figures['package']} ruby+stdlib.wasm": figures["start_ms"]} if figures else {}


def plot_times(releases: list[Release]) -> Figure:
    """This release's build, verification and reproduction seconds per product, and each product's
    total by release."""
    latest = releases[-1]
    names = [entry["name"] for entry in latest.built]
    figure, (now, trend) = pyplot.subplots(1, 2, figsize=(12, 0.45 * max(len(names), 4) + 1.5))
    left = [0.0] * len(names)
    for step, color in TIME_COLORS.items():
        minutes = [entry["seconds"].get(step, 0) / 60 for entry in latest.built]
        now.barh(names, minutes, left=left, color=color, label=step)
        left = [a + b for a, b in zip(left, minutes, strict=True)]
    now.invert_yaxis()
    now.legend(fontsize=8, loc="lower right")
    now.set_title(f"minutes per step in {latest.name}", fontsize=10, loc="left")
    for name in names:
        dates, values = history(releases, lambda r, n=name: next(
            (sum(e["seconds"].values()) / 60 for e in r.built if e["name"] == n), None))
        trend.plot(dates, values, marker="o", label=name)
    trend.set_title("minutes (build + verify + reproduce) by release", fontsize=10, loc="left")
    trend.set_ylim(bottom=0)
    trend.legend(fontsize=7)
    figure.tight_layout()
    return figure


# --- the page ---------------------------------------------------------------------------------

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } .ok { color: #3a923a; } .failed { color: #d62728; }
figure { margin: 1.5em 0; } figcaption { color: #555; font-size: 0.9em; }
figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 0.2em 0.8em; text-align: right; }
td:first-child, th:first-child { text-align: left; } tr:nth-child(even) { background: #f4f4f4; }
.graph { overflow-x: auto; }
"""


def plots(releases: list[Release]) -> Iterator[tuple[str, str, Figure]]:
    """(id, caption, figure) for each plot of the page, in order."""
    yield "tests", "Tests per suite and artifact: this release (left) and across the kept releases (right).", \
        plot_tests(releases)
    yield "reasons", "Known failures by reason (the verification plans' categories).", plot_reasons(releases)
    yield "sizes", "ruby.wasm of each artifact and box against the official npm build's ruby.wasm and " \
        "ruby+stdlib.wasm.", plot_against_official(releases, wasm_megabytes, official_megabytes, "MB", "ruby.wasm size")
    yield "start", "Time from instantiating the compiled module to the end of -e 'puts 1', median of 5 runs inside " \
        "the wasm (log scale across releases).", plot_against_official(releases, lambda e: e.get("start_ms"), official_start, "ms",
                                                       "start time", log=True)
    yield "times", "Each product's steps as they ran in the nightly (with doit -n, side by side).", plot_times(releases)


def products_table(release: Release) -> str:
    rows = ["<tr><th>product</th><th>ruby.wasm</th><th>start (ms)</th><th>tests run</th><th>known failures</th>"
            "<th>unexpected</th><th>reproducible</th><th>minutes</th></tr>"]
    for entry in release.record["products"]:
        if entry.get("skipped"):
            rows.append(f"<tr><td>{html.escape(entry['name'])}</td><td colspan=7>skipped: "
                        f"{html.escape(entry['skipped'][:200])}</td></tr>")
            continue
        tests = entry["tests"].values()
        rows.append(
            f"<tr><td>{html.escape(entry['name'])}</td><td>{entry['outputs']['ruby.wasm']['size']:,}</td>"
            f"<td>{entry.get('start_ms', '')}</td><td>{sum(t['run'] for t in tests):,}</td>"
            f"<td>{sum(t['known_failures'] for t in tests):,}</td><td>{sum(t['unexpected'] for t in tests):,}</td>"
            f"<td>{'yes' if entry['reproducible'] else 'NO'}</td><td>{sum(entry['seconds'].values()) / 60:.1f}</td></tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def page(releases: list[Release], stage_graph: str) -> str:
    """The report of the last of `releases`, with the others as its history."""
    latest = releases[-1]
    record = latest.record
    verdict = '<span class="ok">ok</span>' if record["ok"] else '<span class="failed">FAILED</span>'
    figures = "\n".join(f'<figure class="plot" id="{name}">{svg(figure, name)}<figcaption>{html.escape(caption)}'
                        "</figcaption></figure>" for name, caption, figure in plots(releases))
    kept = ", ".join(html.escape(r.name) for r in releases)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(latest.name)}: ruby.wasm nightly report</title>
<style>{STYLE}</style></head>
<body>
<h1>{html.escape(latest.name)}: {verdict}</h1>
<p>Lock {record['lock_sha256'][:16]}, SOURCE_DATE_EPOCH {record['source_date_epoch']}; its steps took
{record['step_seconds'] / 60:.0f} minutes in all. Releases drawn: {kept}.</p>
{products_table(latest)}
{figures}
<figure class="plot graph" id="stages">{stage_graph}<figcaption>The stages doit runs (doit list --all), each
after those it needs; the nightly comes after every product's artifact, suites and second build.</figcaption></figure>
</body></html>
"""
