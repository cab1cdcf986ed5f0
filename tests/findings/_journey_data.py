"""Helpers of the customer-journey detector tests: tiny logs from rows, and the seed-11 bank demo
read once per session with every journey and contact detector run on it."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

import flowlens
from flowlens.findings import contacts, journeys
from flowlens.findings.context import FindingContext
from flowlens.findings.model import Finding

T0 = pd.Timestamp("2024-03-04 09:00")
MIN = pd.Timedelta(minutes=1)
DAY = pd.Timedelta(days=1)

ALL_DETECTORS = (*journeys.DETECTORS, *contacts.DETECTORS)


def log_from(rows: Iterable[Sequence[Any]]) -> flowlens.EventLog:
    """Rows (case, contact, customer, channel, activity, resource, start min, end min) after T0."""
    cols = ["case", "contact_id", "customer_id", "channel", "activity", "resource", "s", "e"]
    df = pd.DataFrame(list(rows), columns=cols)
    df["start"] = T0 + pd.to_timedelta(df.pop("s"), unit="min")
    df["end"] = T0 + pd.to_timedelta(df.pop("e"), unit="min")
    return flowlens.read_log(df)


def run(log: flowlens.EventLog, *detectors: Any, **kw: Any) -> list[Finding]:
    ctx = FindingContext(log, **kw)
    return [f for d in (detectors or ALL_DETECTORS) for f in d(ctx)]


@functools.lru_cache(maxsize=2)
def bank(folder: str) -> tuple[tuple[Finding, ...], dict[str, float], pd.DataFrame]:
    """(findings of all journey and contact detectors, lead time per case in s, ground truth) of a
    generated bank folder, with its case table joined (the issue reason is the case's reason)."""
    from flowlens.analysis.journeys import add_case_attributes

    d = Path(folder)
    log = add_case_attributes(flowlens.read_log(d / "events.parquet"), d / "cases.parquet")
    ctx = FindingContext(log, seed=11)
    found = tuple(f for det in ALL_DETECTORS for f in det(ctx))
    lead = ctx.tm.cases.select("case_id", "lead_us").to_pandas()
    lead_s = dict(zip(lead["case_id"].astype(str), lead["lead_us"] / 1e6, strict=True))
    return found, lead_s, pd.read_parquet(d / "ground_truth.parquet")


def case_scores(found: Iterable[Finding], truth: pd.DataFrame, code: str) -> tuple[float, float]:
    """Case-level precision and recall of the findings tagged with catalogue ``code``."""
    want = set(truth.loc[truth["code"] == code, "case_id"])
    got = {c for f in found if f.details.get("catalogue") == code for c in f.case_ids}
    hit = len(want & got)
    return hit / max(len(got), 1), hit / max(len(want), 1)
