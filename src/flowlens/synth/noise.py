"""Noise toggles (domain.md 6.8), off by default, each recorded row by row in the ground truth.

* ``missing_resource``: 1.5% of events lose their resource (flagged by the reader).
* ``duplicates``: 0.5% of events written twice (quarantined as exact duplicates).
* ``out_of_order``: 0.3% of events with duration get start and end swapped (quarantined:
  end before start).
* ``bad_timestamps``: 0.1% of end times unreadable (CSV: text; Parquet: empty) (quarantined).
* ``clock_skew``: the IVR system clock is off by a constant U(-120, 120) s.
* ``coarse_time``: the loan system (LOS) keeps minutes only.
* ``completion_only``: the core system (CORE) writes completion times only (start = end).
* ``label_variants``: some systems write variant labels (``Verify ID``...), mapping in truth.
* ``truncate``: events after the window end are cut (cases open at extraction).
* ``hashed_ids``: customer ids replaced by salted hashes.

>>> parse_noise("duplicates,missing_resource")
('missing_resource', 'duplicates')
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flowlens.errors import ConfigError
from flowlens.synth.labels import VARIANTS, label
from flowlens.synth.rng import numpy_rng

_PROCESS = {
    "AO": "account_opening",
    "LN": "loan_application",
    "CD": "card_dispute",
    "CP": "complaint",
    "SI": "service_issue",
}
KINDS = (
    "missing_resource",
    "duplicates",
    "out_of_order",
    "bad_timestamps",
    "clock_skew",
    "coarse_time",
    "completion_only",
    "label_variants",
    "truncate",
    "hashed_ids",
)
RATES = {
    "missing_resource": 0.015,
    "duplicates": 0.005,
    "out_of_order": 0.003,
    "bad_timestamps": 0.001,
    "label_variants": 0.3,
}


def parse_noise(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """Noise kinds from 'all', 'none', a comma list or a sequence (validated, canonical order)."""
    if value is None:
        return ()
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    items = [v for v in items if v and v != "none"]
    if items == ["all"]:
        return KINDS
    unknown = [v for v in items if v not in KINDS]
    if unknown:
        raise ConfigError(f"unknown noise '{unknown[0]}'; choose from all, none, {', '.join(KINDS)}")
    return tuple(k for k in KINDS if k in items)


class Noise:
    """Applies the chosen noise to event chunks and records every injected row."""

    def __init__(self, kinds: tuple[str, ...], seed: int, window_end_ms: int, lang: str, style: str) -> None:
        self.kinds = kinds
        self.seed = seed
        self.window_end_ms = window_end_ms
        self.records: list[dict[str, Any]] = []
        self.bad_text: set[str] = set()  # event ids whose CSV end time is unreadable
        self.chunk = 0
        skew_rng = numpy_rng(seed, 7, 0)
        self.skew_ms = round(skew_rng.uniform(-120, 120) * 1000)
        self.lang, self.style = lang, style
        self.variant_map = {label(k, lang, style): list(v) for k, v in VARIANTS.items()}

    def _rec(self, code: str, event_id: str, case_id: str, **params: Any) -> None:
        self.records.append(
            {"kind": "noise", "code": code, "case_id": case_id, "event_ids": [event_id], "params": params}
        )

    def __call__(self, t: pa.Table) -> pa.Table:
        if not self.kinds:
            return t
        self.chunk += 1
        rng = numpy_rng(self.seed, 7, self.chunk)
        n = t.num_rows
        draws = {
            k: rng.random(n)
            for k in (
                "missing_resource",
                "duplicates",
                "out_of_order",
                "bad_timestamps",
                "label_variants",
                "variant_pick",
            )
        }
        cols = {name: t.column(name) for name in t.column_names}
        eids = cols["event_id"].to_pylist()
        cids = cols["case_id"].to_pylist()
        start = cols["start_ts"].cast(pa.int64()).to_numpy(zero_copy_only=False).astype("float64")
        end = cols["end_ts"].cast(pa.int64()).to_numpy(zero_copy_only=False).astype("float64")
        system = np.array(cols["system"].to_pylist(), dtype=object)
        keep = np.ones(n, dtype=bool)
        if "truncate" in self.kinds:
            keep = end <= self.window_end_ms
            for i in np.flatnonzero(~keep):
                self._rec("N_TRUNCATED", eids[i], cids[i])
        if "clock_skew" in self.kinds:
            m = system == "IVR"
            start[m] += self.skew_ms
            end[m] += self.skew_ms
        if "coarse_time" in self.kinds:
            m = system == "LOS"
            start[m] = np.floor(start[m] / 60000) * 60000
            end[m] = np.floor(end[m] / 60000) * 60000
        if "completion_only" in self.kinds:
            m = system == "CORE"
            start[m] = end[m]
        ooo = np.zeros(n, dtype=bool)
        if "out_of_order" in self.kinds:
            m = keep & (draws["out_of_order"] < RATES["out_of_order"]) & (end > start)
            ooo = m
            start[m], end[m] = end[m].copy(), start[m].copy()
            for i in np.flatnonzero(m):
                self._rec("N_OUT_OF_ORDER", eids[i], cids[i], expect="end before start")
        bad = np.zeros(n, dtype=bool)
        if "bad_timestamps" in self.kinds:
            bad = keep & (draws["bad_timestamps"] < RATES["bad_timestamps"]) & ~ooo
            for i in np.flatnonzero(bad):
                self._rec(
                    "N_BAD_TIMESTAMP",
                    eids[i],
                    cids[i],
                    expect_csv="unparseable timestamp",
                    expect_parquet="missing timestamp",
                )
                self.bad_text.add(eids[i])
        resource = cols["resource_id"]
        if "missing_resource" in self.kinds:
            # One defect per row, so each injected row is counted by exactly one reader check.
            m = keep & (draws["missing_resource"] < RATES["missing_resource"]) & ~ooo & ~bad
            resource = pc.if_else(pa.array(m), pa.nulls(n, pa.string()), resource)
            for i in np.flatnonzero(m):
                self._rec("N_MISSING_RESOURCE", eids[i], cids[i], expect="missing_resource flag")
        activity = cols["activity"]
        if "label_variants" in self.kinds:
            acts = activity.to_pylist()
            for i, a in enumerate(acts):
                if a in self.variant_map and draws["label_variants"][i] < RATES["label_variants"]:
                    opts = self.variant_map[a]
                    acts[i] = opts[int(draws["variant_pick"][i] * len(opts)) % len(opts)]
                    self._rec("N_LABEL_VARIANT", eids[i], cids[i], original=a, written=acts[i])
            activity = pa.array(acts, pa.string())
        customer = cols["customer_id"]
        if "hashed_ids" in self.kinds:
            salt = f"{self.seed}".encode()
            customer = pa.array(
                [hashlib.sha256(salt + c.encode()).hexdigest()[:16] for c in customer.to_pylist()],
                pa.string(),
            )
        end_arr = pa.array(np.where(bad, np.nan, end), pa.float64(), from_pandas=True)
        end_ts = pc.cast(pc.cast(end_arr, pa.int64()), pa.timestamp("ms", tz="UTC"))
        start_ts = pc.cast(pa.array(start.astype("int64"), pa.int64()), pa.timestamp("ms", tz="UTC"))
        out = t.set_column(t.schema.get_field_index("start_ts"), "start_ts", start_ts)
        out = out.set_column(out.schema.get_field_index("end_ts"), "end_ts", end_ts)
        out = out.set_column(out.schema.get_field_index("resource_id"), "resource_id", resource)
        out = out.set_column(out.schema.get_field_index("activity"), "activity", activity)
        out = out.set_column(out.schema.get_field_index("customer_id"), "customer_id", customer)
        out = out.filter(pa.array(keep))
        if "duplicates" in self.kinds:
            kept_idx = np.flatnonzero(keep)
            dup = draws["duplicates"][kept_idx] < RATES["duplicates"]
            dup &= ~bad[kept_idx] & ~ooo[kept_idx]
            if dup.any():
                # Each duplicate follows its original, as a system writing twice would.
                order = np.repeat(np.arange(out.num_rows), np.where(dup, 2, 1))
                for j in np.flatnonzero(dup):
                    i = kept_idx[j]
                    self._rec("N_DUPLICATE", eids[i], cids[i], expect="exact duplicate")
                out = out.take(pa.array(order))
        return out

    def gt_rows(self) -> list[dict[str, Any]]:
        rows = []
        for k, r in enumerate(self.records, start=1):
            rows.append(
                {
                    "gt_id": f"GT-NOISE-{k:07d}",
                    "kind": "noise",
                    "code": r["code"],
                    "case_id": r["case_id"],
                    "process": _PROCESS[r["case_id"].split("-")[0]],
                    "event_ids": r["event_ids"],
                    "activity": None,
                    "resource": None,
                    "team": None,
                    "customer_time_s": 0.0,
                    "staff_time_s": 0.0,
                    "wait_time_s": 0.0,
                    "removable": False,
                    "removable_degree": "n/a",
                    "regulatory_required": False,
                    "cause": "injected data-quality noise",
                    "remedy": None,
                    "params": json.dumps(r["params"], sort_keys=True, ensure_ascii=False),
                }
            )
        return rows
