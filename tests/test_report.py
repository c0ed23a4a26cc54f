"""doit report, and the page it draws opened in Debian's headless Chromium (through chromedriver).

The releases are a real nightly's (tests/releases/: its build record and verification summaries,
as `doit nightly` wrote them), kept twice: as that night's and, copied, as an earlier
night's, so the page draws each figure across two releases as well as for one.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from cli import doit
from matplotlib import image

from toolchain.publish import nightly
from toolchain.publish.report import REPORT

RELEASES = Path(__file__).parent / "releases"
PLOTS = ["tests", "reasons", "sizes", "start", "times", "stages"]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# Colours the page's plots fill with: passed tests, a build step's bar, a fetch stage in the graph.
DRAWN = {"passed": (0x3a, 0x92, 0x3a), "build": (0x4c, 0x72, 0xb0), "fetch stage": (0xda, 0xe8, 0xfc)}


def kept_releases(cache: Path) -> list[Path]:
    """The fixture's release, and a copy of it as the night before."""
    (release,) = RELEASES.glob("nightly-*")
    tonight = shutil.copytree(release, cache / "releases" / release.name)
    record = json.loads((tonight / "build-record.json").read_text())
    earlier = shutil.copytree(release, cache / "releases" / "nightly-2026-12-01")
    record.update(release=earlier.name, date="2026-12-01")
    (earlier / "build-record.json").write_text(json.dumps(record))
    return [earlier, tonight]


@pytest.fixture
def reported(private_cache: Path) -> list[Path]:
    releases = kept_releases(private_cache)
    result = doit("report")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert [line.removeprefix("report: ") for line in result.stdout.splitlines() if line.startswith("report: ")] \
        == [str(release / REPORT) for release in releases]
    return [release / REPORT for release in releases]


def test_each_release_gets_a_page_of_itself_and_the_releases_before_it(reported):
    earlier, tonight = (path.read_text() for path in reported)
    assert "Releases drawn: nightly-2026-12-01." in earlier
    assert f"Releases drawn: nightly-2026-12-01, {reported[1].parent.name}." in tonight
    record = json.loads((reported[1].parent / "build-record.json").read_text())
    for entry in record["products"]:
        row = "skipped: " if entry.get("skipped") else f"<td>{entry['outputs']['ruby.wasm']['size']:,}</td>"
        assert f"<td>{entry['name']}</td>{row}" in tonight.replace("<td colspan=7>", "")
    assert "<script" not in tonight and not re.search(r'(?:src|href)\s*=\s*"(?!#)', tonight)  # nothing to load


def test_without_a_release_report_says_to_run_the_nightly(private_cache):
    result = doit("report")
    assert result.returncode != 0 and "run `doit nightly` first" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Debian's chromium and chromium-driver are needed (./dev test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


def test_the_page_renders_in_chromium_with_every_plot_drawn(reported, browser, tmp_path):
    browser.get(reported[-1].as_uri())
    figures = browser.execute_script("""
        return [...document.querySelectorAll('figure.plot')].map(figure => {
            const svg = figure.querySelector(':scope > svg'), box = svg && svg.getBoundingClientRect();
            return {id: figure.id, width: box ? box.width : 0, height: box ? box.height : 0,
                    marks: svg ? svg.querySelectorAll('path, polygon, ellipse').length : 0,
                    caption: figure.querySelector('figcaption').textContent.length};
        });""")
    assert [f["id"] for f in figures] == PLOTS
    for figure in figures:
        assert figure["width"] > 400 and figure["height"] > 150 and figure["caption"] > 20, figure
        assert figure["marks"] >= 20, figure  # bars, lines, axes and nodes, not an empty frame
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, height)
    screenshot = tmp_path / "report.png"
    assert browser.save_screenshot(str(screenshot))
    print(f"screenshot: {screenshot}")
    pixels = {tuple(p) for p in (image.imread(screenshot)[:, :, :3] * 255).round().astype(int).reshape(-1, 3)}
    for what, color in DRAWN.items():
        assert color in pixels, f"no {what} colour {color} on the screenshot"


def test_a_nightly_draws_its_own_page_and_leaves_the_pages_before_it(reported):
    earlier, tonight = reported
    earlier.write_text("the page drawn when that release was the newest")
    tonight.unlink()
    assert nightly.write_reports(newest_only=True) == [tonight]
    assert earlier.read_text() == "the page drawn when that release was the newest"
    assert "Releases drawn: nightly-2026-12-01, " in tonight.read_text()
