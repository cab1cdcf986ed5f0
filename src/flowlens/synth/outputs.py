"""Writing a generated bank: the published as-is files and each counterfactual's files.

``write_base`` concatenates the per-process parts into ``events.parquet`` (applying the noise
options chunk by chunk, and writing ``events.csv`` alongside), the cases, the ground truth with
its summaries, and optionally XES. ``write_counterfactual`` writes one remedy's to-be log, its
per-case savings and scope, and returns the remedy's summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flowlens.outputs import write_text
from flowlens.synth.calendars import DAY
from flowlens.synth.calfile import calendars_toml
from flowlens.synth.noise import Noise
from flowlens.synth.remedies import Remedy
from flowlens.synth.runner import RUN_OUT_DAYS
from flowlens.synth.truth import bottleneck_truth, summarise
from flowlens.synth.writer import (
    CASE_SCHEMA,
    EVENT_SCHEMA,
    GT_SCHEMA,
    PROCESS_ORDER,
    concat_parts,
    epoch_ms,
    write_csv_chunk,
    write_table,
)

if TYPE_CHECKING:
    from flowlens.synth.bank import _Bank as Bank
    from flowlens.synth.bank import _Run as Run


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_base(
    bank: Bank, base: Run, out: Path, fmts: tuple[str, ...], xes: bool, kinds: tuple[str, ...]
) -> tuple[list[str], dict[str, Any], dict[str, int], int]:
    pre = bank.preset
    window_end = epoch_ms(pre.start) + int(pre.days * DAY * 1000)
    noise = Noise(kinds, bank.seed, window_end, bank.lang, bank.style)
    csv_path = out / "events.csv"
    header = {"first": True}

    def transform(t: pa.Table) -> pa.Table:
        t = noise(t)
        if "csv" in fmts:
            csv_t = t
            if noise.bad_text:
                bad = pa.array([e in noise.bad_text for e in t.column("event_id").to_pylist()])
                if pc.any(bad).as_py():
                    csv_t = _bad_csv_times(t, bad)
            write_csv_chunk(csv_t, csv_path, header=header["first"])
            header["first"] = False
        return t

    files = ["events.parquet"]
    event_parts = [base.parts[p] for p in PROCESS_ORDER]
    concat_parts(event_parts, out / "events.parquet", EVENT_SCHEMA, transform)
    if "csv" in fmts:
        if header["first"]:
            write_csv_chunk(EVENT_SCHEMA.empty_table(), csv_path, header=True)
        files.append("events.csv")
    elif csv_path.exists():
        csv_path.unlink()
    concat_parts([_sib(base.parts[p], "cases") for p in PROCESS_ORDER], out / "cases.parquet", CASE_SCHEMA)
    gt_tmp = bank.work / "gt_all.parquet"
    concat_parts([_sib(base.parts[p], "gt") for p in PROCESS_ORDER], gt_tmp, GT_SCHEMA)
    gt = pq.read_table(gt_tmp)
    extra = _complaint_links(base) + noise.gt_rows()
    if extra:
        gt = pa.concat_tables([gt, pa.Table.from_pylist(extra, schema=GT_SCHEMA)])
    write_table(gt, out / "ground_truth.parquet")
    summary = summarise(gt)
    write_text(out / "ground_truth_summary.json", dump_json(summary))
    write_text(out / "bottleneck_truth.json", dump_json(bottleneck_truth(base.runs, gt)))
    files += [
        "cases.parquet",
        "customers.parquet",
        "ground_truth.parquet",
        "ground_truth_summary.json",
        "bottleneck_truth.json",
    ]
    # The staff's other work, as the bank's other systems record it, and their shifts.
    concat_parts(
        [_sib(base.parts[p], "background") for p in PROCESS_ORDER],
        out / "background_events.parquet",
        EVENT_SCHEMA,
    )
    people: dict[str, str] = {}
    for r in base.runs.values():
        for rid, key in r.extra.get("calendars", {}).items():
            if people.setdefault(rid, key) != key:  # pragma: no cover - ids are per team
                raise RuntimeError(f"{rid} has two shift calendars")
    write_text(out / "calendars.toml", calendars_toml(people, pre.start, pre.days + RUN_OUT_DAYS))
    files += ["background_events.parquet", "calendars.toml"]
    if xes:
        _write_xes(out)
        files.append("events.xes.gz")
    cases_t = pq.read_table(out / "cases.parquet", columns=["process"])
    ev_t = pq.read_table(out / "events.parquet", columns=["process"])
    counts = {
        "cases": _count(cases_t.column("process")),
        "events": _count(ev_t.column("process")),
    }
    noise_counts: dict[str, int] = {}
    for r in noise.records:
        noise_counts[r["code"]] = noise_counts.get(r["code"], 0) + 1
    return files, counts, dict(sorted(noise_counts.items())), gt.num_rows


def _count(col: pa.ChunkedArray) -> dict[str, int]:
    vc = pc.value_counts(col).to_pylist()
    got = {d["values"]: int(d["counts"]) for d in vc}
    return {p: got.get(p, 0) for p in PROCESS_ORDER}


def _sib(events_part: Path, kind: str) -> Path:
    return events_part.with_name(events_part.name.replace(".events.", f".{kind}."))


def _bad_csv_times(t: pa.Table, bad: pa.Array) -> pa.Table:
    """CSV variant of a chunk where unreadable end times are written as text garbage."""
    from flowlens.synth.writer import iso_local

    text = iso_local(t.column("end_ts"))
    mask = np.asarray(bad.to_pylist())
    text[mask] = "31/02/2024 25:61"
    out = t.set_column(t.schema.get_field_index("end_ts"), "end_ts", pa.array(text, pa.string()))
    start = iso_local(t.column("start_ts"))
    return out.set_column(out.schema.get_field_index("start_ts"), "start_ts", pa.array(start, pa.string()))


def _complaint_links(base: Run) -> list[dict[str, Any]]:
    rows = []
    for tr in base.triggers:
        cid = f"CP-X-{tr.case_id}"
        rows.append(
            {
                "gt_id": f"GT-{cid}-00",
                "kind": "link",
                "code": "COMPLAINT_TRIGGER",
                "case_id": cid,
                "process": "complaint",
                "event_ids": [],
                "activity": None,
                "resource": None,
                "team": None,
                "customer_time_s": 0.0,
                "staff_time_s": 0.0,
                "wait_time_s": 0.0,
                "removable": False,
                "removable_degree": "n/a",
                "regulatory_required": False,
                "cause": "complaint triggered by effort in the origin case",
                "remedy": None,
                "params": json.dumps(
                    {"origin_case_id": tr.case_id, "origin_process": tr.process, "origin_codes": tr.codes},
                    sort_keys=True,
                ),
            }
        )
    return rows


def _write_xes(out: Path) -> None:
    import flowlens
    from flowlens.io.writers import write_log

    log = flowlens.read_log(out / "events.parquet", tz="Asia/Shanghai")
    write_log(log, out / "events.xes.gz", format="xes")


def _team_cases(part: Path, prefixes: tuple[str, ...]) -> set[str]:
    t = pq.read_table(part, columns=["case_id", "team"])
    if prefixes != ("*",):
        names = pa.array(sorted({p.rstrip(":") for p in prefixes}), pa.string())
        t = t.filter(pc.is_in(t.column("team"), value_set=names))
    return set(pc.unique(t.column("case_id")).to_pylist())


def write_counterfactual(bank: Bank, base: Run, run: Run, remedy: Remedy, cf_dir: Path) -> dict[str, Any]:
    cf_dir.mkdir(parents=True, exist_ok=True)
    concat_parts(
        [run.parts[p] for p in PROCESS_ORDER], cf_dir / f"events_tobe_{remedy.name}.parquet", EVENT_SCHEMA
    )
    gt = pq.read_table(bank.work / "gt_all.parquet", columns=["case_id", "remedy"])
    direct = {
        c
        for c, r in zip(gt.column("case_id").to_pylist(), gt.column("remedy").to_pylist(), strict=True)
        if r == remedy.name
    }
    scope: set[str] = set()
    rows = []
    for proc in run.resimulated:
        prefixes = (
            remedy.scope.get(proc, ("*",)) if proc != "complaint" or "complaint" in remedy.scope else ("*",)
        )
        in_scope = _team_cases(base.parts[proc], prefixes) | _team_cases(run.parts[proc], prefixes)
        ids_b = set(
            pc.unique(pq.read_table(base.parts[proc], columns=["case_id"]).column("case_id")).to_pylist()
        )
        ids_t = set(
            pc.unique(pq.read_table(run.parts[proc], columns=["case_id"]).column("case_id")).to_pylist()
        )
        in_scope |= (direct & (ids_b | ids_t)) | (ids_b ^ ids_t)
        scope |= in_scope
        for cid in sorted(ids_b | ids_t):
            b = base.lead.get(cid)
            t = run.lead.get(cid)
            lb = b[1] - b[0] if b else None
            lt = t[1] - t[0] if t else None
            rows.append(
                {
                    "case_id": cid,
                    "process": proc,
                    "in_scope": cid in in_scope,
                    "lead_time_asis_s": lb,
                    "lead_time_tobe_s": lt,
                    "saving_s": (lb - lt) if (lb is not None and lt is not None) else None,
                    "only_in": None if (b and t) else ("asis" if b else "tobe"),
                }
            )
    schema = pa.schema(
        [
            ("case_id", pa.string()),
            ("process", pa.string()),
            ("in_scope", pa.bool_()),
            ("lead_time_asis_s", pa.float64()),
            ("lead_time_tobe_s", pa.float64()),
            ("saving_s", pa.float64()),
            ("only_in", pa.string()),
        ]
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    write_table(table, cf_dir / f"savings_{remedy.name}.parquet")
    sav = np.array([r["saving_s"] for r in rows if r["saving_s"] is not None], dtype=float)
    changed = int((np.abs(sav) > 1e-6).sum()) if sav.size else 0
    by_proc: dict[str, float] = {}
    direct_s = ripple_s = gt_s = 0.0
    for r in rows:
        if r["saving_s"] is not None:
            by_proc[r["process"]] = by_proc.get(r["process"], 0.0) + r["saving_s"]
            if r["process"] in remedy.scope:
                direct_s += r["saving_s"]
            else:
                ripple_s += r["saving_s"]
            if r["case_id"] in direct:
                gt_s += r["saving_s"]
    return {
        "description": remedy.description,
        "codes": list(remedy.codes),
        "switches": remedy.switches,
        "resimulated_processes": list(run.resimulated),
        "scope_rule": {p: list(v) for p, v in remedy.scope.items()},
        "scope_note": "in scope: cases visiting the listed teams (as-is or to-be), cases with a "
        "ground-truth row naming this remedy, cases present in only one run; "
        "complaints are all in scope when re-simulated (shared queue). All other "
        "cases are identical event for event.",
        "cases_resimulated": len(rows),
        "cases_in_scope": len(scope),
        "cases_changed": changed,
        "cases_only_in_asis": sum(1 for r in rows if r["only_in"] == "asis"),
        "cases_only_in_tobe": sum(1 for r in rows if r["only_in"] == "tobe"),
        "total_saving_h": round(float(sav.sum()) / 3600.0, 3),
        "saving_h_direct": round(direct_s / 3600.0, 3),
        "saving_h_complaint_ripple": round(ripple_s / 3600.0, 3),
        "saving_h_cases_with_truth_rows": round(gt_s / 3600.0, 3),
        "cases_with_truth_rows": len(direct),
        "saving_note": "direct: processes the remedy acts on; complaint ripple: complaints "
        "re-simulated only because triggered complaints moved (their shared "
        "queue reorders: real in the model, but queue noise rather than the "
        "remedy's own effect); cases_with_truth_rows: cases carrying a "
        "ground-truth row that names this remedy.",
        "saving_h_by_process": {k: round(v / 3600.0, 3) for k, v in sorted(by_proc.items())},
        "mean_saving_per_changed_case_min": round(float(sav[np.abs(sav) > 1e-6].mean()) / 60.0, 3)
        if changed
        else 0.0,
        "files": [f"events_tobe_{remedy.name}.parquet", f"savings_{remedy.name}.parquet"],
    }
