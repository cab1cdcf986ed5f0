"""Helpers of the rework, ping-pong and customer-loop tests: tiny logs from rows, and the seed-11
bank demo and the real logs read once per session with these detectors run on them."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

import flowlens
from flowlens.findings import customer_loops, pingpong, rework
from flowlens.findings.context import FindingContext
from flowlens.findings.model import Finding

T0 = pd.Timestamp("2024-03-04 09:00")

DETECTORS = (
    rework.detect_rework,
    rework.detect_excess_follow_ups,
    pingpong.detect_ping_pong,
    customer_loops.detect_customer_wait_loops,
    customer_loops.detect_idle_statuses,
)
#: finding kinds per catalogue code: the cases they flag are compared with the truth's
KINDS = {
    "W4": ("customer_wait_loop",),
    "W5": ("ping_pong",),
    "W10": ("idle_status",),
    "W11": ("excess_follow_up",),
}


def log_from(rows: Iterable[Sequence[Any]], extra: Sequence[str] = ()) -> flowlens.EventLog:
    """Rows (case, activity, resource, start min, end min, *extra) after T0."""
    cols = ["case", "activity", "resource", "s", "e", *extra]
    df = pd.DataFrame(list(rows), columns=cols)
    df["start"] = T0 + pd.to_timedelta(df.pop("s"), unit="min")
    df["end"] = T0 + pd.to_timedelta(df.pop("e"), unit="min")
    return flowlens.read_log(df)


def seq_rows(
    case: str, steps: Sequence[tuple[Any, ...]], *, gap: float = 60.0, dur: float = 10.0
) -> list[tuple]:
    """Rows for one case: steps (activity, resource, *extra) one after another, each ``dur``
    minutes long and starting ``gap`` minutes after the previous one started."""
    out = []
    for i, (act, res, *rest) in enumerate(steps):
        out.append((case, act, res, i * gap, i * gap + dur, *rest))
    return out


def run(log: flowlens.EventLog, *detectors: Any, **kw: Any) -> list[Finding]:
    ctx = FindingContext(log, **kw)
    return [f for d in (detectors or DETECTORS) for f in d(ctx)]


@functools.lru_cache(maxsize=1)
def bank(folder: str) -> tuple[tuple[Finding, ...], dict[str, float], pd.DataFrame]:
    """(these detectors' findings, lead time per case in s, ground truth) of a bank folder."""
    d = Path(folder)
    ctx = FindingContext(flowlens.read_log(d / "events.parquet"), seed=11)
    found = tuple(f for det in DETECTORS for f in det(ctx))
    lead = ctx.tm.cases.select("case_id", "lead_us").to_pandas()
    lead_s = dict(zip(lead["case_id"].astype(str), lead["lead_us"] / 1e6, strict=True))
    return found, lead_s, pd.read_parquet(d / "ground_truth.parquet")


def case_scores(found: Iterable[Finding], truth: pd.DataFrame, code: str) -> tuple[float, float, int, int]:
    """Case-level precision, recall, cases flagged and cases in the truth for ``code``."""
    want = set(truth.loc[truth["code"] == code, "case_id"])
    got = {c for f in found if f.kind in KINDS[code] and not f.regulatory for c in f.case_ids}
    hit = len(want & got)
    return hit / max(len(got), 1), hit / max(len(want), 1), len(got), len(want)


@functools.lru_cache(maxsize=3)
def real(name: str) -> tuple[tuple[Finding, ...], FindingContext]:
    """These detectors' findings on a shared real log (tests/conftest.py), and the context."""
    tests = str(Path(__file__).resolve().parents[1])
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from conftest import SHARED, shared_path  # type: ignore[import-not-found]
    from flowlens.columns import ColumnMap

    kw = SHARED[name][1]
    path = shared_path(name)
    log = flowlens.read_log(path, columns=ColumnMap(**kw)) if kw else flowlens.read_log(path)  # type: ignore[arg-type]
    ctx = FindingContext(log, seed=0)
    found = [
        f
        for det in (
            rework.detect_rework,
            rework.detect_excess_follow_ups,
            pingpong.detect_ping_pong,
            customer_loops.detect_idle_statuses,
        )
        for f in det(ctx)
    ]
    found.sort(key=lambda f: (-f.customer_time_s, f.title))
    return tuple(found), ctx
