"""The report's languages: catalogues current and complete, Chinese words, numbers, units and dates,
``--lang`` on the command line (recorded, the page's ``lang``), fonts for Chinese glyphs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import run_cli

import flowlens
from flowlens import formats
from flowlens.errors import ConfigError
from flowlens.i18n import LANGUAGES, _, catalogue_path, language, ngettext, pgettext, translations
from flowlens.report.catalogue import status
from flowlens.report.charts import FONT_FAMILY, bar_chart, histogram, standalone

REPO = Path(__file__).resolve().parents[1]


def small_frame() -> pd.DataFrame:
    rows = []
    t0 = pd.Timestamp("2024-03-04 09:00", tz="Asia/Shanghai")
    for c in range(12):
        t = t0 + pd.Timedelta(days=c // 3, hours=c % 3)
        for k, act in enumerate(["开户申请", "Review & check", "Close"]):
            rows.append({"case_id": f"c{c}", "activity": act, "timestamp": t + pd.Timedelta(minutes=40 * k)})
    return pd.DataFrame(rows)


def small_log() -> flowlens.EventLog:
    return flowlens.read_log(small_frame())


# --- catalogues ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", [x for x in LANGUAGES if x != "en"])
def test_catalogue_is_current_complete_and_compiled(lang: str) -> None:
    """Every message marked in the source is in the .po, translated and confirmed, and the shipped
    .mo is the compiled .po; otherwise: `python -m flowlens.report.catalogue update` (docs/translating.md)."""
    st = status(lang)
    assert st.problems() == []
    assert catalogue_path(lang).is_file() and catalogue_path(lang, ".po").is_file()


def test_messages_come_back_in_chinese() -> None:
    with language("zh-CN"):
        assert pgettext("chart", "no data") == "无数据"
        assert _("{start} – {end}") == "{start}至{end}"
        # a message nobody translated yet stays English rather than failing
        assert _("A sentence no catalogue has") == "A sentence no catalogue has"
    with language("en"):
        assert pgettext("chart", "no data") == "no data"


def test_every_translation_keeps_its_placeholders() -> None:
    """A translator may move ``{n}`` but not drop or rename it: .format would fail at report time."""
    cat = translations("zh-CN")
    catalog = cat._catalog  # type: ignore[attr-defined]
    checked = 0
    for key, text in catalog.items():
        msgid = key[0] if isinstance(key, tuple) else key
        msgid = msgid.split("\x04", 1)[-1]
        if not msgid:
            continue
        assert sorted(re.findall(r"\{[^{}]*\}", msgid)) == sorted(re.findall(r"\{[^{}]*\}", text)), msgid
        checked += 1
    assert checked > 0


def test_plural_forms() -> None:
    with language("en"):
        assert ngettext("{n} case", "{n} cases", 1).format(n=1) == "1 case"
        assert ngettext("{n} case", "{n} cases", 2).format(n=2) == "2 cases"
    # Chinese has one form (the catalogue's Plural-Forms header): the count decides nothing
    assert translations("zh-CN").plural(1) == translations("zh-CN").plural(5) == 0  # type: ignore[attr-defined]


def test_an_unknown_language_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with (
        pytest.raises(ConfigError, match="unknown report language 'fr': use one of en, zh-CN"),
        language("fr"),
    ):
        pass
    log = tmp_path / "log.csv"
    log.write_text("case_id,activity,timestamp\n1,a,2024-01-01 09:00\n1,b,2024-01-01 10:00\n")
    code, _out, err = run_cli(
        ["analyze", str(log), "-o", str(tmp_path / "out"), "--quick", "--lang", "fr"], capsys
    )
    assert code == 2
    assert err.strip().splitlines() == ["flowlens: error: unknown report language 'fr': use one of en, zh-CN"]


# --- numbers, units, dates -------------------------------------------------------------------


def test_large_counts_in_wan_and_yi() -> None:
    with language("zh-CN"):
        assert formats.count(1_614_708) == "161.5万"
        assert formats.count(123_456) == "12.35万"
        assert formats.count(150_000) == "15万"
        assert formats.count(16_147_080) == "1,615万"
        assert formats.count(312_345_678) == "3.123亿"
        assert formats.count(-1_614_708) == "-161.5万"
        # below 10^5, or where a reader adds the digits up, every digit stays
        assert formats.count(99_999) == "99,999"
        assert formats.count(1_614_708, exact=True) == "1,614,708"
    with language("en"):
        assert formats.count(1_614_708) == "1,614,708"


def test_units_percents_and_dates_per_language() -> None:
    from flowlens.units import human_count, human_duration, percent

    cases = [42, 600, 5400, 3 * 86400, 27_226 * 86400, 1_614_708 * 3600]
    with language("en"):
        assert [human_duration(s) for s in cases] == [
            "42 s",
            "10 min",
            "1.5 h",
            "3.0 d",
            "27,226 d",
            "67,280 d",
        ]
        assert percent(0.1234) == "12.3 %" and human_count(26_000) == "26,000"
        assert formats.date(pd.Timestamp("2024-01-31 23:30", tz="Asia/Shanghai")) == "2024-01-31"
    with language("zh-CN"):
        assert [human_duration(s) for s in cases] == [
            "42秒",
            "10分钟",
            "1.5小时",
            "3.0天",
            "27,226天",
            "67,280天",
        ]
        assert percent(0.1234) == "12.3%" and percent(None) == "–"
        assert [formats.unit_label(u) for u in ("min", "h", "d")] == ["分钟", "小时", "天"]
        # the wall-clock date of the log's zone, not UTC's
        assert formats.date(pd.Timestamp("2024-01-31 23:30", tz="Asia/Shanghai")) == "2024年1月31日"
        assert formats.period("2024-01-01", "2024-06-30") == "2024年1月1日至2024年6月30日"


def test_charts_speak_the_language_and_name_the_cjk_fonts() -> None:
    with language("zh-CN"):
        svg = bar_chart(["开户", "b"], [1_614_708, 3], unit="h")
        assert "161.5万 小时" in svg and "开户" in svg
        assert "无数据" in histogram([])
    assert "Noto Sans CJK SC" in FONT_FAMILY and "Microsoft YaHei" in FONT_FAMILY
    # inline, a chart inherits the page's font stack; on its own (a figure file) it carries it
    alone = standalone(svg)
    assert alone.startswith("<svg font-family=") and "Noto Sans CJK SC" in alone
    assert standalone(alone) == alone
    css = (REPO / "src/flowlens/report/templates/report.html.j2").read_text(encoding="utf-8")
    assert '"Noto Sans CJK SC"' in css and '"Microsoft YaHei"' in css


def test_output_is_deterministic() -> None:
    with language("zh-CN"):
        first = [formats.count(10**k + 7) for k in range(12)]
    with language("zh-CN"):
        assert [formats.count(10**k + 7) for k in range(12)] == first


# --- the report ------------------------------------------------------------------------------


def test_report_in_chinese_keeps_log_values_and_records_the_language(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    src = tmp_path / "log.csv"
    small_frame().to_csv(src, index=False)
    out = tmp_path / "zh"
    code, _out, err = run_cli(["analyze", str(src), "-o", str(out), "--quick", "--lang", "zh-CN"], capsys)
    assert code == 0, err
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    # activity names as they are in the log (escaped, not translated)
    assert "开户申请" in html and "Review &amp; check" in html
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["provenance"]["lang"] == "zh-CN"
    code, _out, err = run_cli(["analyze", str(src), "-o", str(tmp_path / "en"), "--quick"], capsys)
    assert code == 0, err
    assert '<html lang="en">' in (tmp_path / "en" / "report.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "en" / "results.json").read_text())["provenance"]["lang"] == "en"


def test_the_page_template_is_rendered_in_the_report_language() -> None:
    """The sections are built in the language and the page around them rendered in it too
    (Report.to_html reads the language from the provenance), also after an English render of
    the same (cached) template."""
    from flowlens.report.build import ReportOptions, build_report

    log = small_log()
    en = build_report(log, ReportOptions(deep=False)).to_html()
    zh = build_report(log, ReportOptions(deep=False, lang="zh-CN")).to_html()
    assert '<html lang="en">' in en and '<html lang="zh-CN">' in zh


def test_setup_installs_a_cjk_font_in_both_modes() -> None:
    text = (REPO / "setup.sh").read_text(encoding="utf-8")
    install = text.index("need+=(fonts-noto-cjk)")
    # not inside the --test branch
    test_branch = text.index('if [ "$mode" = "--test" ]; then')
    assert install < test_branch


def test_a_cjk_font_is_installed_here() -> None:
    """The browser tests and PDFs render Chinese with it (setup.sh installs it)."""
    import shutil
    import subprocess

    assert shutil.which("fc-list"), "fontconfig missing: run ./setup.sh"
    families = subprocess.run(
        ["fc-list", ":lang=zh-cn", "family"], capture_output=True, text=True, check=True
    ).stdout
    assert "Noto Sans CJK SC" in families, "no CJK font: run ./setup.sh (apt-get install fonts-noto-cjk)"
