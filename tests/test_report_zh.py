"""The Chinese report has no English left: a report on a small generated bank log (the demo's
generator, its case table and deadline rule, and one of the demo's what-if scenarios, so it has the
demo's sections: the first page with its outcomes and funnel, findings, waiting, bottlenecks,
journeys, segments, drivers, deadlines, the simulation's fidelity check and the what-if with its
comparison to the cost today, data quality, methods) is scanned for runs of English words outside
the values from the log, code and identifiers.

The scan is the check a Chinese reader makes: three or more ASCII words in a row are an English
phrase. Values from the log (activity names, resources, channels, segment values, column names)
stay as they are and are taken out first; so are ``<code>``/``<pre>`` blocks, URLs, command-line
options, file names and rule names. Whatever English is left is a message that was not marked or
not translated (docs/translating.md), and the test names it.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from flowlens.i18n import M_, join_messages, language, localize
from flowlens.io.cases import add_case_attributes
from flowlens.report.build import ReportOptions, build_report
from flowlens.units import duration_value

#: Three or more ASCII words in a row (letters, with ' or - inside a word).
ENGLISH_RUN = re.compile(r"[A-Za-z][A-Za-z'’]+(?:[ \-–]+[A-Za-z][A-Za-z'’]*){2,}")
#: A lowercase English word set in Chinese text ("在 15 days 内", "每week"): a word the report
#: should have translated, where a log value would be taken out first.
CJK = "\u3000-\u9fff\uff00-\uffef"
STRAY_WORD = re.compile(rf"(?<=[{CJK}]) ?[a-z]{{3,}}\b|\b[a-z]{{3,}} ?(?=[{CJK}])")
#: Fixed identifiers a reader may see in any language.
IDENTIFIERS = [
    re.compile(r"https?://\S+"),
    re.compile(r"(?:/[\w.\-]+){2,}/?"),  # a file path (the log's source)
    re.compile(r"--[a-z][a-z\-]*(?:[ =][A-Za-z_=./-]+)?"),  # a command-line option (and its value)
    re.compile(r"\b[\w.\-]+\.(?:json|csv|parquet|toml|md|xes|gz|pdf|png|svg|html)\b"),
    re.compile(r"\b[A-Z]{2,}(?:_[A-Z0-9]+)+\b"),  # a rule name: CN_NFRA_2020
    re.compile(r"\bflowlens(?: [a-z]+)?\b"),
    re.compile(r"\b(?:analyze|whatif|fidelity)\b"),  # a command the text tells the reader to run
    re.compile(r"\blog-distance-measures\b"),
    re.compile(r"\b(?:pm4py|duckdb)\b"),  # a library or engine the appendix names
]


#: One of the demo's scenarios (README command 1); it acts on a step the generated log has.
SCENARIO = (
    Path(__file__).resolve().parents[1]
    / "benchmarks/scenarios/bank/remote_id_verification.account_opening.toml"
)


@pytest.fixture(scope="module")
def zh_report(tiny_bank_seed5: Path):  # type: ignore[no-untyped-def]
    from flowlens.simulation.scenarios import Scenario

    out = tiny_bank_seed5
    log = add_case_attributes(flowlens.read_log(out / "events.parquet"), out / "cases.parquet")
    opts = ReportOptions(
        lang="zh-CN",
        sla=("CN_NFRA_2020",),
        resamples=100,
        seed=3,
        scenarios=[Scenario.from_file(SCENARIO)],
        simulation_k=1,
        # the report's own what-if: bootstrap refits of a 366-case log (a resample can leave a
        # pool without work) and the deadline rule, whose clock-stop steps the tiny log may lack
        whatif_replications=2,
    )
    return log, build_report(log, opts)


def _log_values(log: flowlens.EventLog) -> list[str]:
    """Every text a report may quote from the log: values of its text columns and its column names."""
    df = log.table.to_pandas()
    values: set[str] = set(map(str, log.attributes)) | set(map(str, log.attributes.values()))
    for col in df.columns:
        values.add(str(col))
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            values.update(str(v) for v in df[col].dropna().unique())
    # the step names the deadline rule looks for are names too (a what-if says which it needs)
    from flowlens.analysis.sla import get_preset

    rule = get_preset("CN_NFRA_2020")
    for names in (rule.clock_start, rule.clock_stop):
        if isinstance(names, tuple):
            values.update(names)
    # the report writes a process value's underscores as spaces (the title, the domain's terms)
    values |= {v.replace("_", " ") for v in values}
    # longest first, so a value is taken out before a shorter one inside it
    return sorted((v for v in values if len(v) > 1), key=lambda v: (-len(v), v))


def english_runs(page: str, log_values: list[str], *, words: bool = True) -> list[str]:
    """The runs of English words left in ``page`` (HTML) once the log's values, code and
    identifiers are taken out.

    >>> english_runs("<p>等待 <code>flowlens analyze x</code> “Open Account” 3 days</p>", ["Open Account"])
    []
    >>> english_runs("<p>客户等待 the customer waits here</p>", [])
    ['the', 'the customer waits here']
    >>> english_runs("<p>在 15 days 内答复，“Open Account”之前</p>", ["Open Account"])
    ['days']
    """
    text = re.sub(r"<(script|style|code|pre)\b.*?</\1>", " ", page, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    text = html.unescape(text)
    # identifiers first: a log value may be a word inside one (--other-work holds "other")
    for pattern in IDENTIFIERS:
        text = pattern.sub("□", text)
    # a log value inside a longer text: take it out where it stands alone (not inside a word)
    for v in log_values:
        if v in text:
            text = re.sub(rf"(?<![A-Za-z]){re.escape(v)}(?![A-Za-z])", "□", text)
    runs = {m.group(0) for m in ENGLISH_RUN.finditer(text)}
    if words:
        runs |= {m.group(0).strip() for m in STRAY_WORD.finditer(text)}
    return sorted(runs)


def test_the_chinese_report_has_no_english_sentence(zh_report) -> None:  # type: ignore[no-untyped-def]
    log, report = zh_report
    values = _log_values(log)
    with language("zh-CN"):  # a lead an analysis built is read in the report's language
        # the methods quote names of columns, logs and functions as they are written: there only
        # runs of English words count, not single words
        found = {
            s.id: english_runs(
                f"<h2>{s.title}</h2><p>{localize(s.lead)}</p>{s.html}", values, words=s.id != "methods"
            )
            for s in report.sections
        }
    left = {sid: runs for sid, runs in found.items() if runs}
    assert left == {}, (
        "English left in the Chinese report (mark the message, then translate it):\n"
        + "\n".join(f"{sid}: {runs[:8]}" for sid, runs in left.items())
    )
    # the scan saw the sections the demo report has, the first page and the what-if among them
    assert {"recommendations", "findings", "waiting", "bottlenecks", "sla", "methods", "quality"} <= set(
        found
    )
    assert {"simulation", "whatif"} <= set(found), "the what-if did not run: " + str(sorted(found))


def test_the_page_title_and_leads_are_chinese(zh_report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log, report = zh_report
    page = report.to_html()
    assert '<html lang="zh-CN"' in page
    methods = page.index('id="methods"')
    values = _log_values(log)
    assert english_runs(page[:methods], values) == []
    assert english_runs(page[methods:], values, words=False) == []


def test_a_sentence_built_before_the_language_is_known() -> None:
    """A finding's sentence keeps its English for results.json and reads in the report's language."""
    sentence = join_messages(
        [
            M_(
                "'{activity}' is done in batches: cases wait for the next batch", activity="Manual AML Review"
            ),
            M_("Examples: {cases}", cases="C-1, C-2"),
        ]
    )
    assert (
        sentence == "'Manual AML Review' is done in batches: cases wait for the next batch Examples: C-1, C-2"
    )
    with language("zh-CN"):
        zh = localize(sentence)
    assert zh.startswith("“Manual AML Review”按批处理") and "示例：C-1, C-2" in zh and " Examples" not in zh
    with language("en"):
        assert localize(sentence) == str(sentence)
    with language("zh-CN"):
        assert localize(duration_value(3 * 86400, "3.0 days")) == "3.0天"


def test_the_chinese_methods_are_current_complete_and_not_stale() -> None:
    """After editing docs/methods.md or docs/methods.zh-CN.md run:
    python -m flowlens.report.appendix docs/methods.md (it names the stale sections)."""
    import json

    from flowlens.report.appendix import _DATA, TRANSLATIONS, extract_translation, source_hash, wanted

    root = Path(__file__).resolve().parents[1]
    doc, copy = TRANSLATIONS["zh-CN"]
    english = json.loads((root / "src" / "flowlens" / "report" / _DATA).read_text(encoding="utf-8"))
    shipped = json.loads((root / "src" / "flowlens" / "report" / copy).read_text(encoding="utf-8"))
    assert shipped == extract_translation((root / "docs" / doc).read_text(encoding="utf-8"), wanted())
    assert sorted(shipped) == sorted(english), "every section the report uses is translated"
    stale = [n for n in shipped if shipped[n]["source"] != source_hash(english[n]["text"])]
    assert stale == [], f"the English of these sections changed since they were translated: {stale}"


def test_every_section_of_the_chinese_methods_is_translated_and_current() -> None:
    """The sections the report does not quote too: what the appendix command prints is empty."""
    from flowlens.report.appendix import translation_warnings

    root = Path(__file__).resolve().parents[1]
    english = (root / "docs" / "methods.md").read_text(encoding="utf-8")
    chinese = (root / "docs" / "methods.zh-CN.md").read_text(encoding="utf-8")
    assert translation_warnings(english, chinese, "zh-CN", "methods.zh-CN.md") == []


def test_gaps_in_sections_the_report_does_not_quote_are_reported() -> None:
    """A renumbered section (orphaned), a heading without its twin and a twin without its source
    comment are named even where no report shows them (§16's opening, §16.1, §16.9: not quoted)."""
    from flowlens.report.appendix import extract, source_hash, translation_gaps, translation_warnings, wanted

    root = Path(__file__).resolve().parents[1]
    english = (root / "docs" / "methods.md").read_text(encoding="utf-8")
    chinese = (root / "docs" / "methods.zh-CN.md").read_text(encoding="utf-8")
    opening = re.search(r"^## 16 仿真\n(<!-- source: [0-9a-f]{12} -->\n)", chinese, flags=re.M)
    assert opening is not None
    broken = chinese.replace(opening.group(1), "").replace("### 16.9 ", "### 16.10 ")
    broken = re.sub(r"^### 16\.1 .*\n", "", broken, flags=re.M)  # its text falls under §16
    assert not {"16", "16.1", "16.9", "16.10"} & set(wanted())
    assert translation_gaps(english, broken) == {
        "missing": ["16.1", "16.9"],
        "unsourced": ["16"],
        "orphaned": ["16.10"],
    }
    said = translation_warnings(english, broken, "zh-CN", "methods.zh-CN.md")
    assert [line.split(" ")[2] for line in said] == ["16", "16.1", "16.9", "16.10"]
    assert said[1] == "zh-CN: section 16.1 is not translated in methods.zh-CN.md"
    assert f"<!-- source: {source_hash(extract(english, ['16'])['16']['text'])} -->" in said[0]
    assert "renumbered or removed" in said[3]


def test_a_stale_translation_shows_the_english(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowlens.report import appendix

    english = appendix._methods()
    changed = {**english, "3.3": {**english["3.3"], "text": english["3.3"]["text"] + " Changed."}}
    monkeypatch.setattr(appendix, "_methods", lambda: changed)
    appendix._translated.cache_clear()
    try:
        with language("zh-CN"):
            html = appendix.methods_section(["summary"]).html
    finally:
        appendix._translated.cache_clear()
    assert "Changed." in html  # 3.3: its translation is of the older text
    assert "客户计时" in html or "日志" in html  # the other sections: Chinese


def test_signs_quotes_and_lists_as_chinese_writes_them() -> None:
    """A fidelity check's relative error keeps its sign; step names in a sentence are quoted
    “…” and listed with 、."""
    from flowlens.report.recommendations_section import _names
    from flowlens.simulation.fidelity import _pct

    with language("zh-CN"):
        assert (localize(_pct(0.123)), localize(_pct(-0.05))) == ("+12%", "-5%")
        assert _names(["Offer Accepted", "Account Opened"]) == "“Offer Accepted”、“Account Opened”"
    assert (str(_pct(0.123)), _names(["a", "b"])) == ("+12 %", "'a', 'b'")
    # a scenario's changes in words (the first page's change when no finding matches it)
    from flowlens.report.recommendations_section import _change_words

    changes = [
        {"action": "merge", "activities": ["Prepare", "Issue"]},
        {"action": "automate", "activity": "Check"},
    ]
    assert (
        _change_words("x", changes) == "Do 'Prepare' and 'Issue' in one go, by one person; automate 'Check'"
    )
    with language("zh-CN"):
        assert _change_words("x", changes) == "由同一人一次完成“Prepare”和“Issue”；将“Check”自动化"
