"""The five processes of the simulated bank (domain.md 6.4), one module each.

Each module exposes ``setup(world)`` (teams and background work) and ``run_case(world, case,
t_arrival)`` (a SimPy process generator), plus ``TEAMS`` (staffing at volume 1).
"""

from flowlens.synth.processes import (
    account_opening,
    card_dispute,
    complaint,
    loan_application,
    service_issue,
)

MODULES = {
    "account_opening": account_opening,
    "loan_application": loan_application,
    "card_dispute": card_dispute,
    "complaint": complaint,
    "service_issue": service_issue,
}

__all__ = ["MODULES"]
