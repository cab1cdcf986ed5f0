"""The report in a real browser (headless Chromium through Playwright, never a downloaded
browser): no console error, every section, the first screen, Chinese glyphs, the interactive
map's sliders and waiting split, and report.pdf's pages. Chromium missing is a failure
(``./setup.sh --test`` installs it), never a skip."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import flowlens
from flowlens.errors import EngineError
from flowlens.report.build import ReportOptions, build_report
from flowlens.report.document import Report
from flowlens.report.pdf import FLAGS
from flowlens.report.screenshots import MARGIN

pytestmark = pytest.mark.browser

#: Chinese activity names (the generator's --labels zh style) and one hostile name.
STEPS = ["开户申请", "身份核验", "<script>alert(1)</script>", "审批", "通知客户"]
VIEWPORT = {"width": 1400, "height": 900}


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Chromium is missing: ./setup.sh --test installs it (apt-get install chromium)"
    return path


def _log() -> flowlens.EventLog:
    """60 cases over 12 working days: most take the five steps, some skip or repeat one, so
    the map has paths the slider can drop; two clerks so that cases wait for each other."""
    rng = np.random.default_rng(5)
    rows = []
    t0 = pd.Timestamp("2024-03-04 09:00", tz="UTC")
    for c in range(60):
        t = t0 + pd.Timedelta(days=c // 5, minutes=int(rng.integers(0, 300)))
        steps = list(STEPS)
        if c % 4 == 0:
            steps.remove("身份核验")
        if c % 6 == 0:
            steps.insert(3, "身份核验")
        if c % 10 == 0:
            steps.insert(1, f"补充材料{c % 3}")
        for k, act in enumerate(steps):
            start = t + pd.Timedelta(minutes=int(rng.integers(5, 90)))
            end = start + pd.Timedelta(minutes=int(rng.integers(3, 30)))
            rows.append(
                {
                    "case": f"c{c}",
                    "activity": act,
                    "resource": f"clerk{(c + k) % 2}",
                    "start": start,
                    "end": end,
                }
            )
            t = end
    return flowlens.read_log(pd.DataFrame(rows))


@pytest.fixture(scope="module")
def built() -> Report:
    """The module's deep report, built once: :func:`written` writes it, and the byte-identity
    test writes it a second time (no test writes into :func:`written`'s folder)."""
    return build_report(_log(), ReportOptions(resamples=100, title="开户流程报告"))


@pytest.fixture(scope="module")
def written(built: Report, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    _chromium()
    out = tmp_path_factory.mktemp("browser") / "report"
    paths = built.write(out, pdf=True, png=True, screenshots=True)
    # in page order: the body, then the appendix
    ordered = sorted(built.sections, key=lambda s: s.appendix)
    paths["sections"] = [(s.id, s.title) for s in ordered]  # type: ignore[assignment]
    return paths


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=list(FLAGS))
        yield b
        b.close()


def _open(browser, path: Path):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in {"error", "warning"} else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector("#fl-map[data-ready]", timeout=20_000)
    return page, errors


def test_no_console_error_and_every_section(written, browser) -> None:  # type: ignore[no-untyped-def]
    page, errors = _open(browser, written["report"])
    ids = page.eval_on_selector_all("main section", "s => s.map(e => e.id)")  # body, then appendix
    assert ids == [i for i, _ in written["sections"]]
    for sid, title in written["sections"]:
        assert page.text_content(f"section#{sid} > h2").strip() == title
    # the hostile name is text, never a script that ran
    assert page.evaluate("typeof window.alert") == "function"
    assert page.locator("text=<script>alert(1)</script>").count() >= 1
    assert errors == []  # a CSP refusal of the map's script would be an error here
    page.close()


def test_first_screen_shows_the_first_section_and_is_not_blank(written, browser) -> None:  # type: ignore[no-untyped-def]
    from io import BytesIO

    from PIL import Image

    page, _ = _open(browser, written["report"])
    # the first section (the recommendations once the first page lands) starts on the first screen
    box = page.locator("main > section").first.locator("h2").bounding_box()
    assert box is not None and box["y"] + box["height"] <= VIEWPORT["height"]
    shot = np.asarray(Image.open(BytesIO(page.screenshot())).convert("L"), dtype=float)
    assert shot.shape == (VIEWPORT["height"], VIEWPORT["width"])
    assert shot.std() > 10 and (shot < 128).mean() > 0.005  # text and lines, not a white page
    page.close()


def test_chinese_glyphs_render(written, browser) -> None:  # type: ignore[no-untyped-def]
    """Chinese text draws real glyphs in the report's fonts: two different characters draw
    differently, and neither as the box of a character no font has (U+10FFFD)."""
    page, _ = _open(browser, written["report"])
    assert "开户流程报告" in page.text_content("header h1")
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    pixels = page.evaluate(
        """([font, chars]) => chars.map(ch => {
            const c = document.createElement('canvas'); c.width = 64; c.height = 64;
            const g = c.getContext('2d'); g.fillStyle = 'white'; g.fillRect(0, 0, 64, 64);
            g.fillStyle = 'black'; g.font = '40px ' + font; g.fillText(ch, 8, 48);
            return Array.from(g.getImageData(0, 0, 64, 64).data.filter((_, i) => i % 4 === 0));
        })""",
        [font, ["开", "户", "\U0010fffd"]],
    )
    kai, hu, tofu = (np.array(p) for p in pixels)
    assert (kai < 128).sum() > 50 and (hu < 128).sum() > 50  # ink
    assert not np.array_equal(kai, hu)  # tofu boxes would be the same
    assert not np.array_equal(kai, tofu) and not np.array_equal(hu, tofu)
    # and the map's Chinese labels are drawn text of a CJK width (a box is narrower than 开户申请)
    width = page.evaluate(
        """() => { const t = [...document.querySelectorAll('#fl-map-live text')]
            .find(e => e.textContent === '开户申请'); return t ? t.getBBox().width : 0; }"""
    )
    assert width > 30
    page.close()


def test_sliders_toggle_and_click_on_a_box(written, browser) -> None:  # type: ignore[no-untyped-def]
    page, errors = _open(browser, written["report"])

    def drawn() -> int:
        return page.eval_on_selector_all("#fl-map-live g.node[data-i]", "e => e.length")

    def slide(sel: str, value: str) -> None:
        page.fill(sel, value)
        page.dispatch_event(sel, "input")

    full = drawn()
    slide("#fl-map-activities", "0")
    fewer = drawn()
    assert 0 < fewer < full
    slide("#fl-map-activities", page.get_attribute("#fl-map-activities", "max") or "0")
    assert drawn() == full
    slide("#fl-map-paths", page.get_attribute("#fl-map-paths", "max") or "0")
    edges = page.eval_on_selector_all("#fl-map-live g.edge", "e => e.length")
    slide("#fl-map-paths", "0")
    assert page.eval_on_selector_all("#fl-map-live g.edge", "e => e.length") < edges
    # the time view labels waiting, the frequency view counts
    page.check("input[name=fl-map-view][value=time]")
    assert "Time view" in page.text_content("#fl-map-live svg")
    # a click on a box gives its waiting split: one share per cause, adding up to 100 %
    page.click("#fl-map-live g.node[data-i] >> nth=1")
    info = page.inner_text("#fl-map-info")
    assert "instances" in info
    shares = page.eval_on_selector_all(".fl-split-value", "e => e.map(x => x.textContent)")
    if shares:  # a step with waiting before it
        assert len(shares) == 5 and abs(sum(int(s.split()[0]) for s in shares) - 100) <= 3
    assert errors == []
    page.close()


def _pixels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("L"), dtype=float)


def test_screenshots(written, browser) -> None:  # type: ignore[no-untyped-def]
    """screenshots/: the first 1400 x 900 screen as a reader sees it, the map section and the
    first section (this report has no recommendations), each whole and not blank."""
    folder = written["screenshots"]
    assert sorted(p.name for p in folder.iterdir()) == ["first-screen.png", "map.png", "recommendations.png"]
    first = _pixels(folder / "first-screen.png")
    assert first.shape == (VIEWPORT["height"], VIEWPORT["width"])
    assert first.std() > 10 and (first < 128).mean() > 0.005  # text and lines, not a white page
    # the same pixels as Playwright's screenshot of the same screen (the page is the same page)
    from io import BytesIO

    from PIL import Image

    page, _ = _open(browser, written["report"])
    seen = np.asarray(Image.open(BytesIO(page.screenshot())).convert("L"), dtype=float)
    assert np.abs(seen - first).mean() < 2
    # a section's picture is its box on the page with the margin around it
    for name, sid in (("map", "map"), ("recommendations", written["sections"][0][0])):
        box = page.locator(f"main > section#{sid}").bounding_box()
        assert box is not None
        shot = _pixels(folder / f"{name}.png")
        assert abs(shot.shape[0] - (box["height"] + 2 * MARGIN)) <= 2, name
        assert abs(shot.shape[1] - (box["width"] + 2 * MARGIN)) <= 2, name
        assert shot.std() > 10 and (shot < 128).mean() > 0.002, name
    # the map's picture shows the map drawn by its script (its boxes are blue)
    with Image.open(folder / "map.png") as img:
        rgb = np.asarray(img.convert("RGB"), dtype=int)
    assert ((rgb[..., 2] - rgb[..., 0]) > 60).mean() > 0.01
    page.close()


def test_pdf_pages(written) -> None:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    pages = [p.extract_text() or "" for p in PdfReader(written["pdf"]).pages]
    starts = [" ".join(t.split())[:200] for t in pages]
    # the first section is on the first page, under the title; every other opens a page
    first, *others = written["sections"]
    assert first[1] in pages[0]
    for _, title in others:
        # the appendix's heading opens the page of its first section
        assert any(s.startswith(title) or s.startswith(f"Appendix {title}") for s in starts), title
    # the map's two views are on pages of their own, after its opening page
    m = next(i for i, s in enumerate(starts) if s.startswith("Process map"))
    assert "Frequency view" in pages[m] and starts[m + 1].startswith("Time:")
    assert len(pages) >= len(written["sections"]) + 1


def test_outputs_are_byte_identical(built: Report, written: dict[str, Path], tmp_path: Path) -> None:
    """Chromium's prints and pictures of one report are the same bytes each time (the report
    itself is the same for the same inputs and seed: tests/test_report.py): the module's
    report written a second time."""
    first = written["report"].parent
    b = built.write(tmp_path / "b", pdf=True, png=True, screenshots=True)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert {
        "report.pdf",
        "report.md",
        "report.html",
        "figures/map-1.png",
        "figures/map-1.svg",
        "screenshots/first-screen.png",
        "screenshots/map.png",
        "screenshots/recommendations.png",
    } <= {f.as_posix() for f in files}
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for f in files:
        assert (first / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert written["pdf"].read_bytes().startswith(b"%PDF-") and b["pdf"].is_file()


def test_a_missing_chromium_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = build_report(_log(), ReportOptions(deep=False))  # Graphviz is on the PATH for this
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("FLOWLENS_CHROMIUM", raising=False)
    with pytest.raises(EngineError, match=r"--pdf needs headless Chromium.*apt-get install chromium"):
        report.write(tmp_path / "out", pdf=True)
    with pytest.raises(EngineError, match=r"--screenshots needs headless Chromium.*apt-get install chromium"):
        report.write(tmp_path / "out", screenshots=True)
    assert not (tmp_path / "out").exists()


def test_screenshots_of_a_report_with_recommendations(tmp_path: Path) -> None:
    """The recommendations picture is the section with that id wherever it is, and a report
    without a map has no map picture."""
    from flowlens.report.document import Section

    _chromium()
    keys = "cases end engine flowlens_version seed source_name source_sha256 start timezone"
    report = Report(title="t", provenance=dict.fromkeys(keys.split(), 0))
    report = report.add(Section(id="summary", title="Summary", html="<p>" + "x " * 4000 + "</p>"))
    report = report.add(Section(id="recommendations", title="What to change", html="<ol><li>Merge</li></ol>"))
    paths = report.write(tmp_path / "out", screenshots=True)
    assert sorted(p.name for p in paths["screenshots"].iterdir()) == [
        "first-screen.png",
        "recommendations.png",
    ]
    shot = _pixels(paths["screenshots"] / "recommendations.png")
    assert shot.shape[0] < 200  # the short section, not the long one before it
    assert (shot < 128).mean() > 0.005


def test_cli_screenshots_without_chromium_stop_before_the_analysis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from flowlens.cli import cli

    path = tmp_path / "log.csv"
    _log().to_pandas().to_csv(path, index=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("FLOWLENS_CHROMIUM", raising=False)
    res = CliRunner().invoke(cli, ["analyze", str(path), "--screenshots", "-o", str(tmp_path / "out")])
    assert isinstance(res.exception, EngineError), res.output  # one line from flowlens's main
    assert str(res.exception).startswith("--screenshots needs headless Chromium")
    assert not (tmp_path / "out").exists()
