"""Satisfaction and complaint triggering (domain.md 6.7).

Effort counts what the customer went through (contacts, channels, verifications, re-entries,
branch trips, transfers, bank-caused waiting); CSAT, NPS and CES follow from it, the outcome and
SLA breaches. Effort also drives the chance of a complaint within 14 days; a triggered complaint
remembers its origin case, so the truth links complaint -> origin case -> W-codes.

>>> from flowlens.synth.sim import CaseRow
>>> row = CaseRow("SI-000001", "service_issue", 0, "retail_account", "mass", "phone_agent",
...               "balance", 0.0, contacts=2, verifications=3, transfers=1)
>>> row.channels = {"phone_agent"}
>>> round(effort(row), 2)
1.9
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flowlens.synth.rng import Stream
from flowlens.synth.sim import CaseRow

BASE_CSAT = {True: 3.0, False: 4.35}  # by unfavourable outcome
SEGMENT_SHIFT = {"mass": 0.0, "vip": 0.1, "private": 0.15, "small_business": -0.05}


def effort(row: CaseRow) -> float:
    """The effort score of domain.md 6.7."""
    return (
        0.8 * max(row.contacts - 1, 0)
        + 0.5 * max(len(row.channels) - 1, 0)
        + 0.4 * max(row.verifications - 1, 0)
        + 0.6 * row.re_entries
        + 1.0 * row.branch_trips
        + 0.3 * row.transfers
        + 0.02 * min(row.customer_wait_s / 60.0, 60.0)
    )


@dataclass
class Satisfaction:
    effort: float
    csat: int
    nps: int
    ces: int
    responded: bool
    p_complaint: float
    u_complaint: float
    complaint_delay_s: float
    complaint_jitter_s: float


def score(row: CaseRow, s: Stream) -> Satisfaction:
    """Scores of one case from its own 'sat' stream (all draws made, whatever the path)."""
    e = effort(row)
    z1, z2 = s.gauss(0.0, 0.5), s.gauss(0.0, 1.0)
    u_resp, u_c, delay, jit = s.random(), s.random(), s.uniform(0, 14 * 86400.0), s.random()
    latent = (
        BASE_CSAT[row.unfavourable]
        + SEGMENT_SHIFT.get(row.segment, 0.0)
        - 0.35 * e
        - 0.5 * float(row.sla_breached)
        + z1
    )
    csat = 5 if latent >= 4.5 else 4 if latent >= 3.7 else 3 if latent >= 2.9 else 2 if latent >= 2.1 else 1
    nps = int(min(max(round(2 * latent + 1 + z2), 0), 10))
    ces = int(min(max(round(6.5 - 1.2 * e), 1), 7))
    # Surveys answered by ~15%, more by the very happy and the very unhappy.
    p_resp = min(0.08 + 0.12 * abs(latent - 3.6), 0.6)
    p_c = 1.0 / (1.0 + math.exp(-(-4.0 + 0.6 * e + 1.5 * float(row.unfavourable))))
    return Satisfaction(e, csat, nps, ces, u_resp < p_resp, p_c, u_c, delay, jit * 5400.0)
