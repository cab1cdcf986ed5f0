"""Ground-truth summaries: per code (``ground_truth_summary.json``) and per bottleneck
(``bottleneck_truth.json``, with team utilisation and queue statistics from the simulation).

What ``wait_time_s`` means for bottlenecks and decoys
------------------------------------------------------
Every bottleneck (B) and decoy (D) row carries, in ``params``, the ground-truth split of the
log-visible waiting of its events (:mod:`flowlens.synth.waits`): ``waiting_s``, the waiting
as the log shows it (from the end of the case's previous step to the event's start, as
flowlens's time model measures it), and ``wait_split_s``, that waiting split by what the
simulator knows happened, in the priority order of the waiting-cause analysis (docs/methods.md
7.1): held by a batch rule (batching); the person who did the step busy with another task of
any case or with background work, queued no later (contention) or later (prioritization);
that person off shift (unavailability); the rest (extraneous: the customer, a merchant, a
timer). A bottleneck row's ``wait_time_s`` is the part its mechanism produces
(``params["mechanism_causes"]``, :data:`MECHANISM`):

* B1 (AML contention): the reviewer busy with alerts or other reviews: contention +
  prioritization (alerts come first: served before reviews queued earlier);
* B2 (batching): the time the AML review or the chargeback was held for its batch;
* B3 (back office closed): the time the ticket waited while the assigned clerk was off shift
  (a row exists when that exceeds 4 h: a weekend or a holiday);
* B5 (the customer or the merchant): extraneous, on the log-visible interval: for a returned
  loan offer, from the last follow-up call (or the application's completion) to the return;
  the wait since the offer is ``params["since_offer_s"]``;
* B6 (low-priority shared team) and B8 (single approver): the expert or the manager busy with
  other work (their department's own tasks; other authorisations and meetings): contention +
  prioritization.

Decoy rows keep ``wait_time_s`` = 0 (a legal requirement adds no waiting of its own); their
split says which mechanisms made customers wait at the required steps.

>>> CATALOGUE["W9"]["name"]
'cold-transfer re-explanation'
>>> MECHANISM["B2"]
('batching',)
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flowlens.synth.calendars import DAY, HOUR

#: The waiting-cause categories (docs/methods.md 7.1) each bottleneck's mechanism produces.
MECHANISM: dict[str, tuple[str, ...]] = {
    "B1": ("contention", "prioritization"),
    "B2": ("batching",),
    "B3": ("unavailability",),
    "B5": ("extraneous",),
    "B6": ("contention", "prioritization"),
    "B8": ("contention", "prioritization"),
}

CATALOGUE: dict[str, dict[str, Any]] = {
    "W1": {"name": "repeated ID verification", "removable": "yes", "processes": ["P5", "P3", "P1"]},
    "W2": {"name": "re-entry / asking for held data", "removable": "yes", "processes": ["P1", "P3", "P4"]},
    "W3": {"name": "unnecessary branch trip", "removable": "mostly", "processes": ["P1", "P5"]},
    "W4": {"name": "document loop", "removable": "partly", "processes": ["P1", "P2"]},
    "W5": {"name": "department ping-pong", "removable": "yes", "processes": ["P3", "P4"]},
    "W6": {"name": "redundant approval", "removable": "yes", "processes": ["P1", "P2", "P4"]},
    "W7": {"name": "repeat contact", "removable": "partly", "processes": ["P5"]},
    "W8": {"name": "doom loop / context loss", "removable": "yes", "processes": ["P5"]},
    "W9": {"name": "cold-transfer re-explanation", "removable": "yes", "processes": ["P5"]},
    "W10": {"name": "wait-user misuse", "removable": "yes", "processes": ["P2", "P4"]},
    "W11": {"name": "excess follow-up calls", "removable": "partly", "processes": ["P2"]},
    "B1": {"name": "contention", "team": "aml_review", "remedy_switch": "aml_review.capacity=+1"},
    "B2": {
        "name": "batching",
        "team": "aml_review / card_ops",
        "remedy_switch": "aml_batching=false; chargeback_batching=false",
    },
    "B3": {"name": "unavailability", "team": "back_office", "remedy_switch": "weekend cover"},
    "B4": {
        "name": "prioritisation",
        "team": "cc_l1, branch pools, complaints_unit",
        "remedy_switch": "vip_priority=false",
    },
    "B5": {"name": "extraneous", "team": "customer / merchant", "remedy_switch": "reminders"},
    "B6": {"name": "low-priority shared team", "team": "dept_sme", "remedy_switch": "sme input priority"},
    "B7": {"name": "peak understaffing", "team": "cc_l1", "remedy_switch": "Monday 09-11 staffing"},
    "B8": {
        "name": "single approver",
        "team": "branch_manager",
        "remedy_switch": "low_risk_supervisor_auth=false",
    },
    "D1": {"name": "online ID check + face verification", "regulatory_required": True},
    "D2": {"name": "AML screening, manual review, enhanced due diligence", "regulatory_required": True},
    "D3": {"name": "step-up authentication", "regulatory_required": True},
    "D4": {"name": "risk questionnaire + dual recording", "regulatory_required": True},
    "D5": {"name": "fraud checks, high-risk supervisor authorisation", "regulatory_required": True},
}


def summarise(gt: pa.Table) -> dict[str, Any]:
    """Per code: instances, cases, processes and summed times (hours)."""
    out: dict[str, Any] = {}
    if gt.num_rows == 0:
        return out
    codes = gt.column("code").to_pylist()
    kinds = gt.column("kind").to_pylist()
    cases = gt.column("case_id").to_pylist()
    procs = gt.column("process").to_pylist()
    cust = gt.column("customer_time_s").to_numpy()
    staff = gt.column("staff_time_s").to_numpy()
    wait = gt.column("wait_time_s").to_numpy()
    rem = gt.column("remedy").to_pylist()
    reg = gt.column("regulatory_required").to_pylist()
    idx: dict[str, list[int]] = {}
    for i, c in enumerate(codes):
        idx.setdefault(c, []).append(i)
    degree = gt.column("removable_degree").to_pylist()
    params = gt.column("params").to_pylist()
    for code in sorted(idx, key=_code_key):
        ii = np.array(idx[code])
        entry = {
            "kind": kinds[ii[0]],
            "instances": int(ii.size),
            "cases": len({cases[i] for i in ii}),
            "processes": sorted({procs[i] for i in ii}),
            "customer_time_h": round(float(cust[ii].sum()) / HOUR, 3),
            "staff_time_h": round(float(staff[ii].sum()) / HOUR, 3),
            "wait_time_h": round(float(wait[ii].sum()) / HOUR, 3),
            "remedies": sorted({rem[i] for i in ii if rem[i]}),
            "regulatory_required": bool(reg[ii[0]]),
            "removable": kinds[ii[0]] != "decoy",
            "removable_degree": sorted({degree[i] for i in ii}),
        }
        if kinds[ii[0]] in ("bottleneck", "decoy"):
            split = dict.fromkeys(
                ("batching", "contention", "prioritization", "unavailability", "extraneous"), 0.0
            )
            for i in ii:
                for k, v in json.loads(params[i] or "{}").get("wait_split_s", {}).items():
                    split[k] += v
            entry["log_waiting_h"] = round(sum(split.values()) / HOUR, 3)
            entry["wait_split_h"] = {k: round(v / HOUR, 3) for k, v in split.items()}
            if code in MECHANISM:
                entry["wait_time_causes"] = list(MECHANISM[code])
        entry.update({k: v for k, v in CATALOGUE.get(code, {}).items() if k not in entry})
        out[code] = entry
    return out


def _code_key(code: str) -> tuple[int, int, str]:
    order = {"W": 0, "B": 1, "D": 2}
    digits = "".join(ch for ch in code if ch.isdigit())
    return order.get(code[0], 3), int(digits) if digits else 0, code


def _stats(w: np.ndarray) -> dict[str, float | int]:
    if w.size == 0:
        return {"n": 0}
    return {
        "n": int(w.size),
        "mean_s": round(float(w.mean()), 1),
        "median_s": round(float(np.median(w)), 1),
        "p90_s": round(float(np.quantile(w, 0.9)), 1),
    }


def bottleneck_truth(runs: dict[str, Any], gt: pa.Table) -> dict[str, Any]:
    """Bottleneck catalogue with the simulated evidence (utilisation, queue waits)."""

    def waits(process: str, prefix: str) -> np.ndarray:
        r = runs.get(process)
        if r is None:
            return np.empty((0, 3))
        arrs = [v for k, v in r.team_waits.items() if k.split(":")[0] == prefix and v.size]
        return np.vstack(arrs) if arrs else np.empty((0, 3))

    def util(process: str, prefix: str) -> float | None:
        r = runs.get(process)
        if r is None:
            return None
        vals = [v for k, v in r.utilisation.items() if k.split(":")[0] == prefix]
        return round(float(np.mean(vals)), 3) if vals else None

    def gt_wait(code: str) -> dict[str, float | int]:
        m = pc.equal(gt.column("code"), code)
        return _stats(gt.filter(m).column("wait_time_s").to_numpy())

    out: dict[str, Any] = {}
    aml = waits("account_opening", "aml_review")
    out["B1"] = {
        **CATALOGUE["B1"],
        "process": "account_opening",
        "activity": "Manual AML Review",
        "cause": "contention: lean AML team also works transaction-monitoring alerts",
        "utilisation": util("account_opening", "aml_review"),
        "queue_wait_all_requests": _stats(aml[:, 1] - aml[:, 0]) if aml.size else {"n": 0},
        "instances": gt_wait("B1"),
        "remedy": "aml_reviewer_plus_one",
    }
    out["B2"] = {
        **CATALOGUE["B2"],
        "process": ["account_opening", "card_dispute"],
        "activity": ["Manual AML Review", "Submit Chargeback"],
        "window": "AML batches 10:00 and 15:00; chargebacks 16:00 (business days)",
        "cause": "batching",
        "instances": gt_wait("B2"),
        "remedy": ["no_aml_batching", "no_chargeback_batching"],
    }
    out["B3"] = {
        **CATALOGUE["B3"],
        "process": "service_issue",
        "activity": "Resolve Ticket",
        "window": "weekends and public holidays",
        "cause": "unavailability",
        "utilisation": util("service_issue", "back_office"),
        "instances": gt_wait("B3"),
        "remedy": "weekend_back_office",
    }
    b4: dict[str, Any] = {}
    for proc, team in (
        ("service_issue", "cc_l1"),
        ("service_issue", "branch_service"),
        ("account_opening", "branch_teller"),
        ("complaint", "complaints_unit"),
    ):
        w = waits(proc, team)
        if w.size:
            d = w[:, 1] - w[:, 0]
            b4[team] = {"vip": _stats(d[w[:, 2] == 0]), "mass": _stats(d[w[:, 2] == 1])}
    out["B4"] = {
        **CATALOGUE["B4"],
        "cause": "VIP non-pre-emptive priority",
        "queue_wait_by_priority": b4,
        "remedy": "no_vip_priority",
    }
    out["B5"] = {
        **CATALOGUE["B5"],
        "process": ["loan_application", "card_dispute", "complaint"],
        "cause": "waiting on the customer or the merchant (extraneous)",
        "instances": gt_wait("B5"),
        "remedy": None,
    }
    sme = waits("complaint", "dept_sme")
    out["B6"] = {
        **CATALOGUE["B6"],
        "process": "complaint",
        "activity": "Department Input",
        "cause": "department experts do their own work first",
        "utilisation_including_own_work": util("complaint", "dept_sme"),
        "queue_wait_all_requests": _stats(sme[:, 1] - sme[:, 0]) if sme.size else {"n": 0},
        "instances": gt_wait("B6"),
        "remedy": "sme_input_priority",
    }
    cc = waits("service_issue", "cc_l1")
    b7: dict[str, Any] = {}
    if cc.size:
        t, d = cc[:, 0], cc[:, 1] - cc[:, 0]
        hour = (t % DAY) // HOUR
        dow = ((t // DAY) % 7).astype(int)  # 0 = the preset's first weekday
        peak = (hour >= 9) & (hour < 11)
        start_dow = runs["service_issue"].extra.get("start_weekday", 0)
        monday = ((dow + start_dow) % 7) == 0
        weekday = ((dow + start_dow) % 7) < 5
        for name, m in (
            ("monday_09_11", monday & peak),
            ("other_weekdays_09_11", weekday & ~monday & peak),
            ("all", np.ones_like(peak)),
        ):
            sel = d[m]
            b7[name] = {
                **_stats(sel),
                "answered_within_20s": round(float((sel <= 20).mean()), 3) if sel.size else None,
            }
    out["B7"] = {
        **CATALOGUE["B7"],
        "process": "service_issue",
        "activity": "Enter Queue",
        "window": "Monday 09:00-11:00",
        "cause": "flat weekday staffing vs Monday peak",
        "queue_wait": b7,
        "utilisation": util("service_issue", "cc_l1"),
        "remedy": None,
    }
    mgr = waits("account_opening", "branch_manager")
    out["B8"] = {
        **CATALOGUE["B8"],
        "process": "account_opening",
        "activity": "Supervisor Authorization",
        "cause": "one manager per branch, in meetings ~20% of the day",
        "queue_wait_all_requests": _stats(mgr[:, 1] - mgr[:, 0]) if mgr.size else {"n": 0},
        "instances": gt_wait("B8"),
        "remedy": "no_low_risk_supervisor_auth",
    }
    return out
