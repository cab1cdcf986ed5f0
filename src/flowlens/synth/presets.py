"""Presets: how long, how busy and from which day the simulated bank runs.

``demo`` is the reference bank of domain.md 6.3 (per day: 300 service issues, 60 account
openings, 50 loan applications, 15 card disputes, 6 complaints plus those that effort
triggers). Team sizes in domain.md 6.2 describe a large bank; the generator sizes each team for
the preset's volume (``volume`` x the demo staffing of :mod:`flowlens.synth.teams`), so queues
behave alike in every preset instead of vanishing or exploding.

>>> get_preset("demo").days, get_preset("tiny").volume
(60, 0.1)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from flowlens.errors import ConfigError

#: Cases per day at volume 1.0 (domain.md 6.3), before weekday/hour/month profiles.
DAILY_CASES = {
    "service_issue": 300.0,
    "account_opening": 60.0,
    "loan_application": 50.0,
    "card_dispute": 15.0,
    "complaint": 6.0,
}

#: One remedy per removable waste code, the bottleneck remedies of B1/B2, and W6 in branches.
#: Left out (ask with ``remedies="all"``): ``better_bot_intents`` (W8 is already covered by
#: ``warm_handoff``) and ``no_vip_priority`` (re-simulates all five processes), to keep the demo
#: under a minute.
DEFAULT_REMEDIES = (
    "warm_handoff",
    "remove_second_approval",
    "no_aml_batching",
    "aml_reviewer_plus_one",
    "digital_form_instead_of_reentry",
    "no_redundant_verification",
    "use_held_data",
    "remote_id_verification",
    "document_checklist",
    "correct_routing",
    "fix_contact_defects",
    "no_wait_user_misuse",
    "cap_follow_up_calls",
    "no_low_risk_supervisor_auth",
    "no_chargeback_batching",
)
CORE_REMEDIES = (
    "warm_handoff",
    "remove_second_approval",
    "no_aml_batching",
    "aml_reviewer_plus_one",
    "digital_form_instead_of_reentry",
)


@dataclass(frozen=True)
class Preset:
    """A simulated period and volume.

    ``chunk_days`` sets how often finished cases are flushed to disk (streaming for ``large``);
    ``remedies`` is the default set of counterfactuals (``None`` = all).
    """

    name: str
    start: date
    days: int
    volume: float
    chunk_days: int = 30
    remedies: tuple[str, ...] | None = None
    formats: tuple[str, ...] = ("parquet", "csv")
    customers_per_case: float = 0.8
    remedy_jobs: int | None = None  # cap on parallel counterfactual workers (memory)
    notes: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def expected_cases(self) -> int:
        return round(sum(DAILY_CASES.values()) * self.volume * self.days)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        "tiny", date(2024, 9, 23), 7, 0.1, chunk_days=7, notes="a week of a small bank, for unit tests"
    ),
    "demo": Preset(
        "demo",
        date(2024, 9, 2),
        60,
        1.0,
        remedies=DEFAULT_REMEDIES,
        notes="60 days over Mid-Autumn, quarter end and National Day",
    ),
    "large": Preset(
        "large",
        date(2024, 9, 2),
        365,
        2.0,
        chunk_days=30,
        remedies=CORE_REMEDIES,
        formats=("parquet",),
        remedy_jobs=1,
        notes="a year at twice the demo volume, streamed to disk month by month",
    ),
}


def get_preset(name: str | Preset) -> Preset:
    """Look a preset up by name (a :class:`Preset` passes through)."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}") from None


def custom_preset(base: str, **changes: object) -> Preset:
    """A preset derived from a named one (e.g. another start date or length).

    >>> custom_preset("tiny", days=3).days
    3
    """
    return replace(get_preset(base), name=f"{base}-custom", **changes)  # type: ignore[arg-type]
