"""Fixtures of the findings tests: one generated bank demo log per test session.

``bank_demo_seed11`` is the ``demo`` preset of the synthetic bank generator with seed 11 (the
issue asks for seeds other than the seed 7 of event_logs/bank_demo), no counterfactual
remedies, one process (the generator's multiprocessing does not survive pytest), Parquet only
and the ground-truth hints stripped from the events' ``attrs`` (so no detector can read the
answer from the log). The folder holds events.parquet, cases.parquet, customers.parquet and
ground_truth.parquet. Set FLOWLENS_BANK_SEED11 to a folder generated the same way to reuse it.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def bank_demo_seed11(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    from flowlens.synth.bank import generate_bank

    given = os.environ.get("FLOWLENS_BANK_SEED11")
    if given:  # a folder generated before with the same options (saves ~15 s while developing)
        return Path(given)
    out = tmp_path_factory.mktemp("bank_demo_seed11")
    generate_bank(
        preset="demo",
        seed=11,
        out_dir=out,
        remedies="none",
        formats=("parquet",),
        hide_ground_truth=True,
        jobs=1,
    )
    return out


@pytest.fixture(scope="session")
def bank_demo_seed11_log(bank_demo_seed11: Path):  # type: ignore[no-untyped-def]
    """The seed-11 events with the per-case table joined, plus each case's customer risk
    rating (customers.parquet), as a bank would have them: amount, product, risk rating."""
    import pandas as pd

    import flowlens
    from flowlens.analysis.journeys import add_case_attributes

    cases = pd.read_parquet(bank_demo_seed11 / "cases.parquet")
    customers = pd.read_parquet(bank_demo_seed11 / "customers.parquet")[["customer_id", "risk_rating"]]
    cases = cases.merge(customers, on="customer_id", how="left")
    log = flowlens.read_log(bank_demo_seed11 / "events.parquet")
    return add_case_attributes(log, cases)


@pytest.fixture(scope="session")
def demo_report(bank_demo_seed11_log):  # type: ignore[no-untyped-def]
    """All registered detectors on the seed-11 demo log (one run per test session)."""
    from flowlens.findings.api import find_wastes

    return find_wastes(bank_demo_seed11_log, seed=11)


@pytest.fixture(scope="session")
def ground_truth(bank_demo_seed11: Path):  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.read_parquet(bank_demo_seed11 / "ground_truth.parquet")
