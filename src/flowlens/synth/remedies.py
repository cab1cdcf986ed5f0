"""Remedies: model switches whose counterfactual logs give the true saving of each change.

Each remedy flips :class:`~flowlens.synth.sim.Switches`, names the processes it re-simulates
and its *scope*: the teams whose workload it changes directly, plus the teams those cases visit
afterwards. A case is in scope if it visits one of those teams (in the as-is or the to-be run)
or carries a ground-truth row the remedy removes; complaints are all in scope when the set of
triggered complaints changes (they share one complaints queue). Every case outside the scope is
identical, event for event, in the as-is and the to-be log (tests/synth check this).

>>> REMEDIES["warm_handoff"].switches
{'warm_transfer': True, 'bot_context_handover': True}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowlens.errors import ConfigError

BRANCH_P1 = (
    "branch_teller:",
    "branch_manager:",
    "branch_lobby:",
    "wealth_rm:",
    "kyc_ops",
    "compliance",
    "aml_review",
)
SI_AGENTS = ("cc_l1", "cc_specialist", "back_office")
ALL = ("*",)


@dataclass(frozen=True)
class Remedy:
    name: str
    description: str
    codes: tuple[str, ...]
    switches: dict[str, Any]
    scope: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def processes(self) -> tuple[str, ...]:
        return tuple(self.scope)


REMEDIES: dict[str, Remedy] = {
    r.name: r
    for r in [
        Remedy(
            "warm_handoff",
            "warm transfers and chatbot handoffs that pass the context "
            "(no re-explaining, no re-verification)",
            ("W9", "W8", "W1"),
            {"warm_transfer": True, "bot_context_handover": True},
            {"service_issue": SI_AGENTS},
        ),
        Remedy(
            "remove_second_approval",
            "no second underwriter for small loans, no second approval for small complaint redress",
            ("W6",),
            {"second_approval": False},
            {"loan_application": ("underwriting",), "complaint": ALL},
        ),
        Remedy(
            "no_aml_batching",
            "manual AML reviews start as soon as a hit is raised",
            ("B2",),
            {"aml_batching": False},
            {"account_opening": ("aml_review",)},
        ),
        Remedy(
            "aml_reviewer_plus_one",
            "one more AML reviewer",
            ("B1",),
            {"aml_extra_reviewers": 1},
            {"account_opening": ("aml_review",)},
        ),
        Remedy(
            "digital_form_instead_of_reentry",
            "the branch retrieves the app application instead of keying it in again",
            ("W2",),
            {"shared_application_data": True},
            {"account_opening": BRANCH_P1},
        ),
        Remedy(
            "no_redundant_verification",
            "verify identity once per contact unless risk requires more",
            ("W1",),
            {"redundant_verification": False},
            {"account_opening": BRANCH_P1, "service_issue": SI_AGENTS, "card_dispute": ALL},
        ),
        Remedy(
            "use_held_data",
            "use documents and data the bank already holds",
            ("W2",),
            {"ask_held_data": False},
            {"card_dispute": ALL, "complaint": ALL},
        ),
        Remedy(
            "remote_id_verification",
            "video ID verification instead of a branch trip",
            ("W3",),
            {"remote_id": True},
            {"account_opening": BRANCH_P1, "service_issue": ("back_office", "branch_service:")},
        ),
        Remedy(
            "document_checklist",
            "a checklist that cuts incomplete document loops (first incomplete rate 0.35 -> 0.10)",
            ("W4",),
            {"incomplete_first_p": 0.10},
            {
                "account_opening": ("kyc_ops", "compliance", "aml_review"),
                "loan_application": ("underwriting",),
            },
        ),
        Remedy(
            "correct_routing",
            "classify and route right the first time",
            ("W5",),
            {"misrouting": False},
            {"card_dispute": ALL, "complaint": ALL},
        ),
        Remedy(
            "fix_contact_defects",
            "fix the access and skill defects behind avoidable repeat contacts",
            ("W7",),
            {"contact_defects": False},
            {"service_issue": ALL},
        ),
        Remedy(
            "better_bot_intents",
            "chatbot understands the intents it now loops on",
            ("W8",),
            {"bot_misunderstanding": False},
            {"service_issue": SI_AGENTS},
        ),
        Remedy(
            "no_wait_user_misuse",
            "no 'waiting for customer' status without a request",
            ("W10",),
            {"wait_user_misuse": False},
            {"loan_application": ("underwriting",), "complaint": ALL},
        ),
        Remedy(
            "cap_follow_up_calls",
            "at most two calls after an offer",
            ("W11",),
            {"followup_cap": 2},
            {"loan_application": ALL},
        ),
        Remedy(
            "no_low_risk_supervisor_auth",
            "no supervisor sign-off for low-risk openings",
            ("W6", "B8"),
            {"low_risk_supervisor_auth": False},
            {"account_opening": BRANCH_P1},
        ),
        Remedy(
            "no_chargeback_batching",
            "submit chargebacks when ready, not at 16:00",
            ("B2",),
            {"chargeback_batching": False},
            {"card_dispute": ("card_ops", "fraud_team")},
        ),
        Remedy(
            "no_vip_priority",
            "serve VIP and mass customers first come first served",
            ("B4",),
            {"vip_priority": False},
            {
                "account_opening": BRANCH_P1,
                "service_issue": ALL,
                "complaint": ALL,
                "card_dispute": ALL,
                "loan_application": ALL,
            },
        ),
    ]
}


def resolve_remedies(
    value: str | tuple[str, ...] | list[str] | None, default: tuple[str, ...] | None
) -> tuple[str, ...]:
    """Remedy names from 'all', 'none', a comma list or a sequence (validated).

    >>> resolve_remedies("warm_handoff,no_aml_batching", None)
    ('warm_handoff', 'no_aml_batching')
    """
    if value is None:
        return default if default is not None else tuple(REMEDIES)
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    items = [v for v in items if v]
    if items == ["all"]:
        return tuple(REMEDIES)
    if items in (["none"], []):
        return ()
    unknown = [v for v in items if v not in REMEDIES]
    if unknown:
        raise ConfigError(f"unknown remedy '{unknown[0]}'; choose from all, none, {', '.join(REMEDIES)}")
    return tuple(dict.fromkeys(items))
