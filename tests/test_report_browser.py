"""`rpa report` in a real headless Chromium (Debian's `chromium`, driven by Playwright):
every page of a report opens from file://, draws all its figures, logs no error, makes
no request that is not a file of the report, and shows markup from the data as text.

Skipped only when /usr/bin/chromium is absent (CI installs it: .ci/run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import rpa
from tests.test_report import HOSTILE_ACCOUNT, IMG, SCRIPT, build_world

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    world = build_world(folder / "case")
    out = {}
    for name, args in (("zh", []), ("masked", ["--mask", "--lang", "en"])):
        result = rpa("report", *args, "--out", folder / name, "--case", world["case"])
        assert result.exit_code == 0, result.output
        out[name] = folder / name
    return out


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Tab:
    """One browser tab that records, per page visited, console errors, requests and dialogs."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.seen: dict = {}
        self.page.on("console", lambda m: self.seen["errors"].append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.seen["errors"].append(str(exc)))
        self.page.on("request", lambda r: self.seen["requests"].append(r.url))
        self.page.on("dialog", lambda d: (self.seen["dialogs"].append(d.message), d.dismiss()))

    def visit(self, path: Path) -> dict:
        """Open one page; wait until every figure has drawn; return what happened."""
        self.seen = {"errors": [], "requests": [], "dialogs": []}
        self.page.goto(path.as_uri(), wait_until="load")
        self.page.wait_for_function(
            """() => [...document.querySelectorAll('.plotly-graph-div')].every(d => d.querySelector('.main-svg'))""",
            timeout=20000,
        )
        self.seen["figures"] = self.page.evaluate("document.querySelectorAll('.plotly-graph-div').length")
        self.seen["drawn"] = self.page.evaluate("document.querySelectorAll('.plotly-graph-div .main-svg').length")
        return self.seen


@pytest.fixture
def tab(browser):
    t = Tab(browser)
    yield t
    t.page.close()


def test_every_page_renders_offline_without_errors(tab, reports):
    for report in reports.values():
        pages = sorted(report.rglob("*.html"))
        assert len(pages) > 10
        for path in pages:
            seen = tab.visit(path)
            assert seen["figures"] >= 1 and seen["drawn"] >= seen["figures"], path
            assert seen["errors"] == [], (path, seen["errors"])
            assert seen["dialogs"] == [], (path, seen["dialogs"])
            outside = [u for u in seen["requests"] if not u.startswith(report.as_uri() + "/")]
            assert outside == [], (path, outside)
            # plotly.js comes from the report's own assets
            assert (report / "assets" / "plotly.min.js").as_uri() in seen["requests"]


def test_markup_in_the_data_shows_as_text(tab, reports):
    report = reports["zh"]
    seen = tab.visit(report / "index.html")
    page = tab.page
    text = page.inner_text("main")
    assert IMG in text and SCRIPT in text  # roster names, shown as written
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.querySelectorAll('main script').length") == seen["figures"]  # only ours
    # inside the figures too: the network draws the names as SVG text
    svg_text = page.evaluate("[...document.querySelectorAll('#fig-network text')].map(t => t.textContent).join('|')")
    assert IMG in svg_text
    assert seen["dialogs"] == []
    # the subject's person page lists the hostile nickname among its counterparties
    href = page.evaluate("[...document.querySelectorAll('a')].find(a => a.textContent.includes('../../x')).getAttribute('href')")
    assert re.fullmatch(r"persons/[0-9a-f]{16}\.html", href)
    seen = tab.visit(report / href)
    assert HOSTILE_ACCOUNT in page.inner_text("main") and seen["dialogs"] == []
    assert page.evaluate("document.querySelectorAll('main img, main b').length") == 0


def test_cjk_labels_have_a_cjk_font(tab, reports):
    tab.visit(reports["zh"] / "index.html")
    page = tab.page
    assert "关键数字" in page.inner_text("main")
    # Drawn in the page's font stack, two different characters give different pixels:
    # without a CJK font both would be the same empty box (tofu).
    differ = page.evaluate("""(() => {
        const c = document.createElement('canvas'); c.width = 48; c.height = 48;
        const g = c.getContext('2d'); g.font = '36px ' + getComputedStyle(document.body).fontFamily;
        const draw = ch => { g.clearRect(0, 0, 48, 48); g.fillText(ch, 4, 40);
                             return Array.from(g.getImageData(0, 0, 48, 48).data).join(','); };
        const blank = Array.from(g.getImageData(0, 0, 48, 48).data).join(',');
        const a = draw('关'), b = draw('数');
        return [a !== b, a !== blank];
    })()""")
    assert differ == [True, True]
