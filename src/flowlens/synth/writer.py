"""Turning simulated records into deterministic Parquet and CSV.

Finished cases arrive in chunks; :class:`EventSink` gives each event its final position in its
case (ordered by end, then start, then recording order), its id ``<case_id>-<nnn>`` (stable per
case, so an untouched case keeps its ids in every counterfactual), labels, UTC instants, and
appends the chunk to per-process part files (events, ground truth, cases). Parts are later
concatenated, in a fixed process order, into the published files.

Parquet files are written with fixed options and no creation time, so the same seed gives the
same bytes; timestamps are UTC instants (``timestamp[ms, tz=UTC]``). CSV timestamps are ISO 8601
with the bank's +08:00 offset.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from flowlens.outputs import atomic_path
from flowlens.synth.calendars import UTC_OFFSET_S, waking
from flowlens.synth.labels import label
from flowlens.synth.rng import case_streams
from flowlens.synth.satisfaction import score
from flowlens.synth.sim import CaseRow, EventRec, GTRec

TS = pa.timestamp("ms", tz="UTC")
PROCESS_ORDER = ("account_opening", "loan_application", "card_dispute", "complaint", "service_issue")

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("case_id", pa.string()),
        ("process", pa.string()),
        ("contact_id", pa.string()),
        ("customer_id", pa.string()),
        ("activity", pa.string()),
        ("activity_zh", pa.string()),
        ("start_ts", TS),
        ("end_ts", TS),
        ("lifecycle", pa.string()),
        ("resource_id", pa.string()),
        ("team", pa.string()),
        ("channel", pa.string()),
        ("system", pa.string()),
        ("attrs", pa.string()),
    ]
)
GT_SCHEMA = pa.schema(
    [
        ("gt_id", pa.string()),
        ("kind", pa.string()),
        ("code", pa.string()),
        ("case_id", pa.string()),
        ("process", pa.string()),
        ("event_ids", pa.list_(pa.string())),
        ("activity", pa.string()),
        ("resource", pa.string()),
        ("team", pa.string()),
        ("customer_time_s", pa.float64()),
        ("staff_time_s", pa.float64()),
        ("wait_time_s", pa.float64()),
        ("removable", pa.bool_()),
        ("removable_degree", pa.string()),
        ("regulatory_required", pa.bool_()),
        ("cause", pa.string()),
        ("remedy", pa.string()),
        ("params", pa.string()),
    ]
)
CASE_SCHEMA = pa.schema(
    [
        ("case_id", pa.string()),
        ("process", pa.string()),
        ("customer_id", pa.string()),
        ("product", pa.string()),
        ("segment", pa.string()),
        ("origin_channel", pa.string()),
        ("reason", pa.string()),
        ("opened_ts", TS),
        ("closed_ts", TS),
        ("outcome", pa.string()),
        ("sla_deadline_ts", TS),
        ("sla_met", pa.bool_()),
        ("complaint_category", pa.string()),
        ("severity", pa.string()),
        ("amount", pa.float64()),
        ("csat", pa.int8()),
        ("nps", pa.int8()),
        ("ces", pa.int8()),
        ("survey_responded", pa.bool_()),
        ("effort", pa.float64()),
        ("contacts", pa.int16()),
    ]
)

WRITE_OPTS: dict[str, Any] = dict(
    compression="zstd",
    compression_level=3,
    use_dictionary=True,
    write_statistics=True,
    version="2.6",
    data_page_version="1.0",
)


def epoch_ms(start: date) -> int:
    """UTC epoch milliseconds of local midnight (Asia/Shanghai) of ``start``."""
    midnight = datetime(start.year, start.month, start.day, tzinfo=UTC)
    return int(midnight.timestamp() * 1000) - UTC_OFFSET_S * 1000


def _ts(base: int, secs: np.ndarray) -> pa.Array:
    """Simulation seconds -> UTC millisecond timestamps (rounded to the millisecond)."""
    ms = base + np.round(secs * 1000.0).astype(np.int64)
    return pa.array(ms, pa.int64()).cast(TS)


def ms_array(base: int, secs: Iterable[float | None]) -> pa.Array:
    vals = [None if s is None else base + round(s * 1000.0) for s in secs]
    return pa.array(vals, type=pa.int64()).cast(TS)


class Trigger:
    """A complaint triggered by a finished case (domain.md 6.7)."""

    __slots__ = ("case_id", "category", "codes", "customer", "index", "process", "t")

    def __init__(
        self, t: float, case_id: str, process: str, customer: int, category: str, codes: list[str], index: int
    ) -> None:
        self.t, self.case_id, self.process = t, case_id, process
        self.customer, self.category, self.codes, self.index = customer, category, codes, index


# Complaints are filed under the product (CBIRC lines; debit cards are bank cards, 银行卡).
SI_CATEGORY = {
    "card_lost": "card",
    "fees": "card",
    "loan_repayment": "loan",
    "wealth": "wealth",
    "failed_transfer": "card",
    "login": "service",
    "balance": "card",
    "update_info": "accounts",
    "other": "service",
}
PROCESS_CATEGORY = {"account_opening": "accounts", "loan_application": "loan", "card_dispute": "card"}


class EventSink:
    """Collects finished cases per process and writes Parquet parts."""

    def __init__(
        self,
        workdir: Path,
        *,
        seed: int,
        start: date,
        lang: str,
        style: str,
        hide_ground_truth: bool,
        customer_ids: list[str],
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.base = epoch_ms(start)
        self.lang, self.style = lang, style
        self.hide = hide_ground_truth
        self.customer_ids = customer_ids
        self._writers: dict[tuple[str, str], pq.ParquetWriter] = {}
        self.gt_rows: dict[str, list[GTRec]] = {}
        self.triggers: list[Trigger] = []
        self.lead: dict[str, tuple[float, float]] = {}
        self.counts: dict[str, int] = {}
        self.case_counts: dict[str, int] = {}
        self.last_end: dict[str, float] = {}
        self._labels: dict[str, tuple[str, str]] = {}

    def part_path(self, process: str, kind: str = "events") -> Path:
        return self.dir / f"{process}.{kind}.parquet"

    def _write(self, process: str, kind: str, table: pa.Table) -> None:
        key = (process, kind)
        if key not in self._writers:
            self._writers[key] = pq.ParquetWriter(self.part_path(process, kind), table.schema, **WRITE_OPTS)
        if table.num_rows:
            self._writers[key].write_table(table)

    def close_process(self, process: str) -> None:
        for kind, schema in (("events", EVENT_SCHEMA), ("gt", GT_SCHEMA), ("cases", CASE_SCHEMA)):
            key = (process, kind)
            if key not in self._writers:
                self._write(process, kind, schema.empty_table())
            self._writers.pop(key).close()

    def _label(self, key: str) -> tuple[str, str]:
        got = self._labels.get(key)
        if got is None:
            got = (label(key, self.lang, self.style), label(key, "zh"))
            if self.lang == "en":
                got = (label(key, "en", self.style), label(key, "zh"))
            self._labels[key] = got
        return got

    def add(
        self, events: list[tuple[str, EventRec]], gt: list[GTRec], cases: list[CaseRow], process: str
    ) -> int:
        """Write a chunk of finished cases; returns the number of events written."""
        n = len(events)
        cust_of = {c.case_id: self.customer_ids[c.customer] for c in cases}
        recs = [e for _, e in events]
        cids = [c for c, _ in events]
        uniq = sorted(set(cids))
        code_of = {c: i for i, c in enumerate(uniq)}
        codes = np.fromiter((code_of[c] for c in cids), np.int64, n)
        starts = np.fromiter((e.start for e in recs), np.float64, n)
        ends = np.fromiter((e.end for e in recs), np.float64, n)
        seqs = np.fromiter((e.seq for e in recs), np.int64, n)
        # Final order within each case: end, start, recording order.
        order = np.lexsort((seqs, starts, ends, codes))
        sc = codes[order]
        first = np.searchsorted(sc, sc, side="left")
        pos = np.arange(n) - first + 1
        ids: dict[tuple[str, int], str] = {}
        eids = []
        ocids = []
        for j, i in enumerate(order.tolist()):
            cid = cids[i]
            eid = f"{cid}-{pos[j]:03d}"
            eids.append(eid)
            ocids.append(cid)
            ids[(cid, recs[i].seq)] = eid
        orecs = [recs[i] for i in order.tolist()]
        labels = [self._label(e.act) for e in orecs]

        def attrs_text(e: EventRec) -> str | None:
            a = e.attrs
            if not a:
                return None
            if self.hide and "gt" in a:
                a = {k: v for k, v in a.items() if k != "gt"}
                if not a:
                    return None
            return json.dumps(a, sort_keys=True, ensure_ascii=False)

        data = {
            "event_id": eids,
            "case_id": ocids,
            "process": [process] * n,
            "contact_id": [e.contact for e in orecs],
            "customer_id": [cust_of[c] for c in ocids],
            "activity": [lab[0] for lab in labels],
            "activity_zh": [lab[1] for lab in labels],
            "lifecycle": [e.lifecycle for e in orecs],
            "resource_id": [e.resource for e in orecs],
            "team": [e.team.split(":")[0] for e in orecs],
            "channel": [e.channel for e in orecs],
            "system": [e.system for e in orecs],
            "attrs": [attrs_text(e) for e in orecs],
        }
        arrays = []
        for name in EVENT_SCHEMA.names:
            if name == "start_ts":
                arrays.append(_ts(self.base, starts[order]))
            elif name == "end_ts":
                arrays.append(_ts(self.base, ends[order]))
            else:
                arrays.append(pa.array(data[name], pa.string()))
        self._write(process, "events", pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA))
        self._write_gt(process, gt, ids)
        self._write_cases(process, cases)
        self.counts[process] = self.counts.get(process, 0) + n
        if n:
            self.last_end[process] = max(self.last_end.get(process, 0.0), float(ends.max()))
        return n

    def _write_gt(self, process: str, gt: list[GTRec], ids: dict[tuple[str, int], str]) -> None:
        gt = sorted(gt, key=lambda g: (g.case_id, min(g.event_seqs) if g.event_seqs else -1, g.code))
        rows: dict[str, list[Any]] = {n: [] for n in GT_SCHEMA.names}
        count: dict[str, int] = {}
        for g in gt:
            k = count.get(g.case_id, 0) + 1
            count[g.case_id] = k
            rows["gt_id"].append(f"GT-{g.case_id}-{k:02d}")
            rows["kind"].append(g.kind)
            rows["code"].append(g.code)
            rows["case_id"].append(g.case_id)
            rows["process"].append(process)
            rows["event_ids"].append([ids[(g.case_id, s)] for s in g.event_seqs])
            rows["activity"].append(self._label(g.activity)[0] if g.activity else None)
            rows["resource"].append(g.resource)
            rows["team"].append(g.team.split(":")[0] if g.team else None)
            rows["customer_time_s"].append(g.customer_time_s)
            rows["staff_time_s"].append(g.staff_time_s)
            rows["wait_time_s"].append(g.wait_time_s)
            rows["removable"].append(g.removable not in ("no", "n/a"))
            rows["removable_degree"].append(g.removable)
            rows["regulatory_required"].append(g.regulatory_required)
            rows["cause"].append(g.cause)
            rows["remedy"].append(g.remedy)
            rows["params"].append(json.dumps(g.params, sort_keys=True, ensure_ascii=False))
        self._write(process, "gt", pa.table(rows, schema=GT_SCHEMA))

    def _write_cases(self, process: str, cases: list[CaseRow]) -> None:
        cases = sorted(cases, key=lambda c: c.case_id)
        rows: dict[str, list[Any]] = {n: [] for n in CASE_SCHEMA.names}
        opened, closed, deadline = [], [], []
        for c in cases:
            pfx, idx, sub = _key_of(c.case_id)
            s = score(c, case_streams(self.seed, pfx, idx, sub).sat)
            rows["case_id"].append(c.case_id)
            rows["process"].append(process)
            rows["customer_id"].append(self.customer_ids[c.customer])
            rows["product"].append(c.product)
            rows["segment"].append(c.segment)
            rows["origin_channel"].append(c.origin_channel)
            rows["reason"].append(c.reason)
            opened.append(c.opened)
            closed.append(c.closed)
            deadline.append(c.sla_deadline)
            rows["outcome"].append(c.outcome)
            rows["sla_met"].append(c.sla_met)
            rows["complaint_category"].append(c.complaint_category)
            rows["severity"].append(c.severity)
            rows["amount"].append(c.amount)
            rows["csat"].append(s.csat)
            rows["nps"].append(s.nps)
            rows["ces"].append(s.ces)
            rows["survey_responded"].append(s.responded)
            rows["effort"].append(round(s.effort, 3))
            rows["contacts"].append(c.contacts)
            self.lead[c.case_id] = (c.opened, c.closed)
            # Effort-triggered complaints (domain.md 6.7) [assumption: only after some effort or
            # an unfavourable outcome; complaints out of the blue are the independent stream].
            eligible = s.effort >= 0.5 or c.unfavourable
            if process != "complaint" and eligible and s.u_complaint < s.p_complaint:
                cat = PROCESS_CATEGORY.get(process) or SI_CATEGORY.get(c.reason, "service")
                t = waking(c.closed + s.complaint_delay_s, s.complaint_jitter_s)
                self.triggers.append(
                    Trigger(round(t, 3), c.case_id, process, c.customer, cat, sorted(c.codes), idx)
                )
        arrays = []
        for name in CASE_SCHEMA.names:
            if name == "opened_ts":
                arrays.append(ms_array(self.base, opened))
            elif name == "closed_ts":
                arrays.append(ms_array(self.base, closed))
            elif name == "sla_deadline_ts":
                arrays.append(ms_array(self.base, deadline))
            else:
                arrays.append(pa.array(rows[name], CASE_SCHEMA.field(name).type))
        self._write(process, "cases", pa.Table.from_arrays(arrays, schema=CASE_SCHEMA))
        self.case_counts[process] = self.case_counts.get(process, 0) + len(cases)

    def write_background(
        self,
        process: str,
        prefix: str,
        records: list[tuple[Any, ...]],
        meetings: list[tuple[str, str, float, float]],
        until: float,
    ) -> int:
        """Background work of the process's staff as cases of its own (``BG-<prefix>-...``):
        an arrival instant by the queueing system, then the work by the person; meetings are
        one event each. Work that arrives after ``until`` (the last event of the process's
        cases) is left out. Returns the number of events written."""
        rows: list[tuple[str, str, str, float, float, str, str, str]] = []
        items = [
            (t_arr, 0, spec, t0, t1, rid, team)
            for spec, t_arr, t0, t1, rid, team in records
            if t_arr <= until
        ]
        items += [(a, 1, None, a, b, rid, team) for rid, team, a, b in meetings if a <= until]
        items.sort(key=lambda x: (x[0], x[1], x[5], x[3]))
        for n, (t_arr, is_meeting, spec, t0, t1, rid, team) in enumerate(items, start=1):
            cid = f"BG-{prefix}-{n:06d}"
            if is_meeting:
                rows.append((cid, "meeting", "attend_meeting", t0, t1, rid, team, "CALENDAR"))
                continue
            src_team = "kiosk" if spec.source.endswith("KIOSK") else "system"
            system = {"aml_alert": "TM", "counter_transaction": "CORE"}.get(spec.process, "WORKFLOW")
            rows.append((cid, spec.process, spec.arrival, t_arr, t_arr, spec.source, src_team, system))
            rows.append((cid, spec.process, spec.work, t0, t1, rid, team, system))
        pos: dict[str, int] = {}
        eids = []
        for r in rows:
            pos[r[0]] = pos.get(r[0], 0) + 1
            eids.append(f"{r[0]}-{pos[r[0]]:03d}")
        labels = [self._label(r[2]) for r in rows]
        channel = {"counter_transaction": "branch", "meeting": "branch"}
        data = {
            "event_id": eids,
            "case_id": [r[0] for r in rows],
            "process": [r[1] for r in rows],
            "contact_id": [None] * len(rows),
            "customer_id": [None] * len(rows),
            "activity": [lab[0] for lab in labels],
            "activity_zh": [lab[1] for lab in labels],
            "lifecycle": ["complete"] * len(rows),
            "resource_id": [r[5] for r in rows],
            "team": [r[6].split(":")[0] for r in rows],
            "channel": [channel.get(r[1], "back_office") for r in rows],
            "system": [r[7] for r in rows],
            "attrs": [None] * len(rows),
        }
        arrays = []
        for name in EVENT_SCHEMA.names:
            if name == "start_ts":
                arrays.append(_ts(self.base, np.array([r[3] for r in rows], dtype=np.float64)))
            elif name == "end_ts":
                arrays.append(_ts(self.base, np.array([r[4] for r in rows], dtype=np.float64)))
            else:
                arrays.append(pa.array(data[name], pa.string()))
        table = pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)
        write_table(table, self.part_path(process, "background"))
        return table.num_rows


def _key_of(case_id: str) -> tuple[str, int, int]:
    """Stream key of a case id: ``SI-000123`` -> (SI, 123, 0); ``CP-X-SI-000123`` -> (CPX, 123, 5)."""
    parts = case_id.split("-")
    if parts[1] == "X":
        from flowlens.synth.rng import PROCESS_CODES

        return "CPX", int(parts[3]), PROCESS_CODES[parts[2]]
    return parts[0], int(parts[1]), 0


def concat_parts(parts: list[Path], out: Path, schema: pa.Schema, transform: Any = None) -> int:
    """Concatenate part files row group by row group (bounded memory) into ``out``."""
    n = 0
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema, **WRITE_OPTS) as w:
        for p in parts:
            f = pq.ParquetFile(p)
            for i in range(f.num_row_groups):
                t = f.read_row_group(i)
                if transform is not None:
                    t = transform(t)
                if t.num_rows:
                    w.write_table(t)
                    n += t.num_rows
    return n


def iso_local(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """ISO 8601 text with +08:00 for a UTC timestamp column (None stays None)."""
    ms = col.cast(pa.int64()).to_numpy(zero_copy_only=False)
    arr = np.asarray(ms, dtype="float64")
    mask = np.isnan(arr)
    local = np.where(mask, 0, arr + UTC_OFFSET_S * 1000).astype("int64").astype("datetime64[ms]")
    text = np.char.add(np.datetime_as_string(local, unit="ms"), "+08:00").astype(object)
    text[mask] = None
    return text


_RISKY = ("=", "+", "-", "@", "\t", "\r")


def write_csv_chunk(table: pa.Table, path: Path, *, header: bool) -> None:
    """Append a table to a spreadsheet-safe CSV (timestamps as local ISO with offset).

    Text cells that a spreadsheet would run as a formula are neutralised (flowlens.io.writers);
    chunks without such cells, the normal case, are written by Arrow's CSV writer directly."""
    import pyarrow.csv as pacsv

    cols = {}
    risky = False
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            cols[name] = pa.array(iso_local(col), pa.string())
        else:
            cols[name] = col
            if pa.types.is_string(col.type):
                for ch in _RISKY:
                    if pc.any(pc.starts_with(col, ch)).as_py():
                        risky = True
    if not risky:
        out = pa.table(cols)
        opts = pacsv.WriteOptions(include_header=header, quoting_style="needed")
        with open(path, "wb" if header else "ab") as fh:
            pacsv.write_csv(out, fh, write_options=opts)
        return
    _write_csv_pandas(table, path, header=header)


def _write_csv_pandas(table: pa.Table, path: Path, *, header: bool) -> None:
    import pandas as pd

    from flowlens.io.writers import neutralise_formulas

    data = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            data[name] = iso_local(col)
        else:
            data[name] = col.to_pandas()
    df = pd.DataFrame(data)
    for name in df.columns:
        if df[name].dtype == object:
            df[name] = neutralise_formulas(df[name])
    df.to_csv(path, mode="w" if header else "a", header=header, index=False, lineterminator="\n")


def write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` as Parquet at ``path``, atomically (:func:`flowlens.outputs.atomic_path`)."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **WRITE_OPTS)
