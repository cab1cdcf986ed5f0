"""Pseudonymised outputs: no case, customer or staff id in clear in any file a command writes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import flowlens
from flowlens.cli import cli
from flowlens.errors import ConfigError
from flowlens.io.cases import add_case_attributes
from flowlens.pseudonyms import pseudonymise

FLOWLENS = [sys.executable, "-m", "flowlens"]
CASES = [f"LOAN-{k:04d}" for k in range(24)]
CUSTOMERS = [f"CUST{k:05d}" for k in range(24)]
STAFF = ["alice.wong", "bob.li", "carol.zhang"]


def bank_log(tmp_path: Path) -> tuple[Path, Path]:
    rows = []
    t0 = pd.Timestamp("2024-03-04 09:00")
    for k, (case, cust) in enumerate(zip(CASES, CUSTOMERS, strict=True)):
        steps = (
            ["Apply", "Check Identity", "Assess", "Check Identity", "Approve"]
            if k % 3
            else ["Apply", "Approve"]
        )
        # office hours, four cases a day (staff busy round the clock would read as a system)
        t = t0 + pd.Timedelta(days=k // 4, hours=2 * (k % 4))
        for i, act in enumerate(steps):
            rows.append([case, cust, act, STAFF[(k + i) % 3], t, t + pd.Timedelta(minutes=15)])
            t += pd.Timedelta(minutes=40)
    rows.append([CASES[0], CUSTOMERS[0], "Approve", STAFF[0], "not a time", "2024-03-04 10:00"])
    log = tmp_path / "loans.csv"
    pd.DataFrame(rows, columns=["case_id", "customer_id", "activity", "resource", "start", "end"]).to_csv(
        log, index=False
    )
    cases = tmp_path / "cases.csv"
    pd.DataFrame({"case_id": CASES, "customer_id": CUSTOMERS, "segment": ["vip", "mass"] * 12}).to_csv(
        cases, index=False
    )
    return log, cases


def clear_ids(text: str) -> list[str]:
    return [v for v in (*CASES, *CUSTOMERS, *STAFF) if v in text]


def test_library_keeps_the_process_and_hides_the_ids(tmp_path: Path) -> None:
    path, _ = bank_log(tmp_path)
    log = flowlens.read_log(path)
    p = pseudonymise(log, key="k1")
    assert p.n_cases == log.n_cases and p.n_events == log.n_events and p.n_variants == log.n_variants
    assert set(p.pseudonyms.columns) == {"case_id", "resource", "customer_id"}
    values = p.table.select("case_id", "resource", "customer_id").to_pandas()
    assert clear_ids(values.to_csv()) == []
    # keyed: the same in every run; another key, other pseudonyms
    again = pseudonymise(flowlens.read_log(path), key="k1").table.select("case_id").to_pandas()
    other = pseudonymise(flowlens.read_log(path), key="k2").table.select("case_id").to_pandas()
    assert sorted(again.case_id) == sorted(values.case_id)
    assert not set(other.case_id) & set(values.case_id)
    # the quarantined row keeps its reason but not its ids
    q = p.quarantine()
    assert len(q) == 1
    assert clear_ids(q.to_csv()) == []


def test_every_output_of_analyze_and_findings_is_pseudonymised(tmp_path: Path) -> None:
    path, cases = bank_log(tmp_path)
    common = ["--pseudonymise", "--pseudonym-key", "secret"]
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        r = subprocess.run(
            [
                *FLOWLENS,
                "analyze",
                str(path),
                "--cases",
                str(cases),
                "--resamples",
                "100",
                "-o",
                str(out),
                *common,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 0, r.stderr
        outs.append(out)
    for name in ("report.html", "results.json", "quarantine.csv"):
        text = (outs[0] / name).read_text(encoding="utf-8")
        assert clear_ids(text) == [], name
        assert text == (outs[1] / name).read_text(encoding="utf-8"), f"{name} differs between runs"
    results = json.loads((outs[0] / "results.json").read_text(encoding="utf-8"))
    assert results["sections"]["summary"]["cases"] == len(CASES)
    assert "segment" in json.dumps(results)  # the case table still joins on pseudonymised ids
    csv = tmp_path / "findings.csv"
    r = subprocess.run(
        [*FLOWLENS, "findings", str(path), "--csv", str(csv), "--json", *common],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert clear_ids(r.stdout) == [] and clear_ids(csv.read_text(encoding="utf-8")) == []
    assert "case-" in r.stdout


def test_key_without_the_flag_is_a_usage_error(tmp_path: Path) -> None:
    path, _ = bank_log(tmp_path)
    r = subprocess.run(
        [*FLOWLENS, "inspect", str(path), "--pseudonym-key", "x"], capture_output=True, text=True, check=False
    )
    assert r.returncode == 2 and "--pseudonym-key needs --pseudonymise" in r.stderr


# -- identifiers the name pattern does not know ------------------------------------------------
KEY = "k3y-of-24-characters-xyz"
#: (column, value) planted in the log, none of them named like an identifier
PLANTED_LOG = {
    "bsn": "BSN000000070",
    "klant": "KL-000070",
    "relatienummer": "4000070",  # a whole number: a key of 7 digits, one per customer
    "x7": "zk-dossier-0",  # unique per case, no pattern at all: found by cardinality
    "x8": "06-41230070",  # phone
    "x9": "jan.jansen070@example.nl",  # e-mail
    "x10": "NL91ABNA0417164370",  # IBAN
    "x11": "11010519900300070X",  # Chinese resident id
}
NOTE = "callback to +31610000062 re C0000083"
#: in the case table
PLANTED_CASES = {"dossier": "DOS00000000", "remark": "spoke with mr de vries on 0612345600 about his loan"}
#: in the quarantined rows only (an unparseable time, a row with a field too many)
PLANTED_BAD = [
    "BSN999999999",
    "KL-999999",
    "+31699999999",
    "C9999999",
    "q.bad@example.nl",
    "NL12RABO0399999999",
]
#: inside activity names, and free text
PLANTED_TEXT = ["+31610000062", "C0000083", "jan.jansen070@example.nl", "NL91ABNA0417164300", "+31620000000"]


def planted_log(tmp_path: Path, n: int = 48) -> tuple[Path, Path]:
    """A loan log with identifiers under names the pattern does not know, in free text, in
    activity names and in quarantined rows; and its case table (two cases per customer)."""
    rows = []
    t0 = pd.Timestamp("2024-03-04 09:00")
    for k in range(n):
        c = k // 2  # the customer
        steps = ["Apply", "Check Identity", "Assess", "Approve"] if k % 3 else ["Apply", "Approve"]
        if k % 8 == 0:
            steps.insert(1, f"Call back +3162{c:07d}")
        t = t0 + pd.Timedelta(days=k // 4, hours=2 * (k % 4))
        for i, act in enumerate(steps):
            note = {
                1: f"callback to +3161{c + 62:07d} re C{c + 83:07d}",
                2: f"mail jan.jansen{c + 70:03d}@example.nl about NL91ABNA04171643{c:02d}",
            }
            rows.append(
                {
                    "case_id": f"LOAN-{k:04d}",
                    "activity": act,
                    "resource": STAFF[(k + i) % 3],
                    "start": t,
                    "end": t + pd.Timedelta(minutes=15 + 20 * (act == "Assess") * (c % 3)),
                    "bsn": f"BSN{c + 70:09d}",
                    "klant": f"KL-{c + 70:06d}",
                    "relatienummer": 4000070 + c,
                    "x7": f"zk-dossier-{k}",
                    "x8": f"06-4123{c + 70:04d}",
                    "x9": f"jan.jansen{c + 70:03d}@example.nl",
                    "x10": f"NL91ABNA04171643{c + 70:02d}",
                    "x11": f"1101051990030{c + 70:04d}X",
                    "note": note.get(i),
                    "tier": ["gold", "std", "std"][c % 3],
                    "amount": 1000 + 37.5 * k,
                }
            )
            t += pd.Timedelta(minutes=40)
    # the first customer's identifiers and notes, quarantined (unparseable start)
    rows += [dict(rows[1], start="not a time"), dict(rows[2], start="not a time")]
    log = tmp_path / "loans.csv"
    pd.DataFrame(rows).to_csv(log, index=False)
    with log.open("a", encoding="utf-8") as f:  # a malformed row: one field too many
        f.write(
            "LOAN-0001,Approve,bob.li,2024-03-05 09:00,2024-03-05 10:00,BSN999999999,KL-999999,4999999,"
            "zk-9,06-99999999,q.bad@example.nl,NL12RABO0399999999,110105199003079999,extra,"
            "callback to +31699999999 re C9999999,gold,1\n"
        )
    cases = tmp_path / "cases.csv"
    pd.DataFrame(
        {
            "case_id": [f"LOAN-{k:04d}" for k in range(n)],
            "segment": ["vip", "mass"] * (n // 2),
            "dossier": [f"DOS{k:08d}" for k in range(n)],
            "remark": [f"spoke with mr de vries on 06123456{k:02d} about his loan" for k in range(n)],
        }
    ).to_csv(cases, index=False)
    return log, cases


def planted() -> list[str]:
    return [*PLANTED_LOG.values(), NOTE, *PLANTED_CASES.values(), *PLANTED_BAD, *PLANTED_TEXT]


def test_content_rules_find_what_names_miss(tmp_path: Path) -> None:
    from flowlens.pseudonyms import classify_columns

    path, cases = planted_log(tmp_path)
    verdicts = {v.column: v for v in classify_columns(flowlens.read_log(path))}
    for col in PLANTED_LOG:
        assert verdicts[col].action == "hash" and verdicts[col].rule != "name", verdicts[col]
    assert verdicts["x7"].rule == "key" and verdicts["relatienummer"].rule == "key"
    assert verdicts["note"].action == "withhold"
    assert verdicts["tier"].action == "mask" and verdicts["amount"].action == "keep"
    # values named in a filter given before pseudonymisation do not show in its description
    # and a filter to one customer (too few values to judge) changes no verdict; the values it
    # names do not show in its description
    whole = flowlens.read_log(path)
    log = flowlens.filter_attribute(whole, "x7", ["zk-dossier-0", "zk-dossier-1"])
    log = flowlens.filter_attribute(log, "klant", ["KL-000070"])
    p = pseudonymise(log, key=KEY, basis=whole)
    assert set(p.pseudonyms.columns) >= set(PLANTED_LOG) and p.n_cases == 2
    # the case table is judged whole too
    p = add_case_attributes(p, cases)
    assert "dossier" in p.pseudonyms.columns and "remark" in p.pseudonyms.withheld
    assert [v for v in (*planted(), *STAFF, "LOAN-", "DOS0") if v in p.table.to_pandas().to_csv()] == []
    text = " ".join(p.filters)
    assert "zk-dossier" not in text and "KL-0" not in text and "x7 in ['id-" in text


def test_identifiers_inside_text_and_what_is_not_one() -> None:
    from flowlens.pseudonyms import _MAYBE, find_identifiers, mask_identifiers

    found = {
        "mail": "Jan.Jansen+loans@example.co.uk",
        "iban": "NL91 ABNA 0417 1643 00",
        "nid": "11010519491231002X",
        "card": "4111 1111 1111 1111",
        "tel": "+31 6 1000 0062",
        "num": "123456789",
        "ref": "C0000083",
    }
    for kind, value in found.items():
        assert find_identifiers(f"about {value}, today") == [(kind, value)], kind
    for tel in ("0031610000062", "06-12345678", "020 123 4567", "(555) 123-4567"):
        assert [k for k, _ in find_identifiers(f"call {tel}")] == ["tel"], tel
    # the engine's pre-filter lets every one of them through
    for text in (
        *found.values(),
        "0031610000062",
        "06-12345678",
        "020 123 4567",
        "(555) 123-4567",
        "10.0.0.1",
    ):
        assert find_identifiers(text) and re.search(_MAYBE, text), text
    benign = [
        "2024-03-04 09:00:00",
        "04-03-2024 09:00",
        "2010-12-30T11:32:55.000+01:00",
        "Approve loan of 250000 EUR",
        "Check step 3 of 12, version 1.2.3",
        "ISO 27001 audit",
        "Wait 48h",
        "amount 1037.50",
        "W_Completeren aanvraag",
        "开户审核 第2步",
    ]
    assert [b for b in benign if find_identifiers(b)] == []
    # one identifier, one pseudonym, however it is written
    assert mask_identifiers("+31 6 1000 0062", KEY) == mask_identifiers("+31610000062", KEY)


def run_everything(runner: CliRunner, log: Path, cases: Path, out: Path, *flags: str) -> str:
    """Every command that prints attribute values, run on ``log``: their stdout, stderr and
    every file they wrote, as one text."""
    common = ["--cases", str(cases), "--resamples", "100", *flags]
    commands = [
        ["analyze", str(log), "-o", str(out / "report"), *common],
        ["findings", str(log), "--json", "--csv", str(out / "findings.csv"), *common],
        ["drivers", str(log), "--json", *common],
        ["segments", str(log), "--by", "klant", "--json", *common],
        ["segments", str(log), "--by", "segment", "--json", *common],
        ["segments", str(log), "--by", "dossier", "--json", *common],
        ["segments", str(log), "--by", "remark", "--json", *common],
        ["inspect", str(log), "--json", "--quarantine", str(out / "quarantine.csv"), *flags],
    ]
    texts = []
    for args in commands:
        res = runner.invoke(cli, args)
        texts += [res.stdout, res.stderr, str(res.exception or "")]
        if "remark" in args and "--pseudonymise" in flags:
            # free text is withheld from a pseudonymised log: it cannot be a segment
            assert isinstance(res.exception, ConfigError) and "withheld" in str(res.exception)
        else:
            assert res.exit_code == 0, (args, res.output, res.exception)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"report.html", "results.json", "quarantine.csv", "findings.csv"}
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in files]
    return "\n".join(texts)


def test_planted_identifiers_reach_no_output_of_a_pseudonymised_run(tmp_path: Path) -> None:
    log, cases = planted_log(tmp_path)
    runner = CliRunner()
    clear = run_everything(runner, log, cases, tmp_path / "clear")
    # not vacuous: without --pseudonymise, every planted value shows somewhere
    assert [v for v in planted() if v not in clear] == [], clear[:3000]
    hidden = run_everything(runner, log, cases, tmp_path / "hidden", "--pseudonymise", "--pseudonym-key", KEY)
    assert [v for v in planted() if v in hidden] == []
    assert [v for v in ("LOAN-00", "alice.wong", "bob.li") if v in hidden] == []
    # what stays: the process, the categories, the case table still joined on pseudonymised ids
    assert "Check Identity" in hidden and "gold" in hidden and "vip" in hidden
    assert "Call back tel-" in hidden and "(withheld)" in hidden
    # the unreadable row keeps its structure: known values as they are, the rest as forms
    assert "AAA999999999,AA-999999,9999999" in hidden and ",Approve," in hidden


def test_named_columns_unknown_names_and_short_keys(tmp_path: Path) -> None:
    log, cases = planted_log(tmp_path, n=24)
    runner = CliRunner()
    base = ["segments", str(log), "--cases", str(cases), "--resamples", "100", "--json", "--pseudonymise"]
    # a free-text column named by the user is kept, pseudonymised; so is a case-table column
    named = ["--pseudonymise-columns", "note", "--pseudonymise-columns", "segment,tier"]
    res = runner.invoke(cli, [*base, "--by", "segment", "--pseudonym-key", KEY, *named])
    assert res.exit_code == 0, res.output
    assert "vip" not in res.stdout and '"id-' in res.stdout and res.stderr == ""
    res = runner.invoke(
        cli, [*base, "--by", "note", "--pseudonym-key", KEY, "--pseudonymise-columns", "note"]
    )
    assert res.exit_code == 0, res.output
    assert "callback" not in res.stdout and '"id-' in res.stdout
    # a typo is an error, not a column silently left in clear
    res = runner.invoke(cli, [*base, "--by", "segment", "--pseudonymise-columns", "segmnet"])
    assert isinstance(res.exception, ConfigError) and "segmnet" in str(res.exception)
    res = runner.invoke(cli, ["inspect", str(log), "--pseudonymise-columns", "bsn"])
    assert isinstance(res.exception, ConfigError) and "needs --pseudonymise" in str(res.exception)
    # a short key works, with one warning line
    res = runner.invoke(cli, [*base, "--by", "segment", "--pseudonym-key", "short"])
    assert res.exit_code == 0, res.output
    assert len(res.stderr.splitlines()) == 1 and "16 or more" in res.stderr


def test_the_quarantine_columns_are_the_gates() -> None:
    from flowlens.io.gate import QUARANTINE_COLUMNS
    from flowlens.pseudonyms import _GATE_COLUMNS

    assert QUARANTINE_COLUMNS == _GATE_COLUMNS


def test_large_text_columns_are_masked_in_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import flowlens.pseudonyms as ps

    # above SAFE_VALUES distinct values, only what the engine's pre-filter matches reaches Python
    monkeypatch.setattr(ps, "SAFE_VALUES", 2)
    path, _ = planted_log(tmp_path)
    p = pseudonymise(flowlens.read_log(path), key=KEY)
    acts = set(p.table.select("activity").distinct().to_pandas()["activity"])
    assert "Check Identity" in acts and any(a.startswith("Call back tel-") for a in acts)
    assert not any("+3162" in a for a in acts) and p.pseudonyms.masked == ("activity",)
