"""Issue 5, "what it must show": on the generator's logs, the waiting attributed to each
injected bottleneck's cause is within 5 % (of that bottleneck's total waiting) of the ground
truth, and decoy waiting is not attributed to the bank.

The log is the demo bank (60 days, ~26k cases) with seed 13 (not the committed demo's 7),
generated once for the module without counterfactuals and in one process (the generator's
worker processes do not survive pytest). It is read as a bank would hand it over: the events
of the five processes together with ``background_events.parquet`` (the same staff's other
work: transaction-monitoring alerts, counter business, departments' own tasks, meetings) and
the shift calendars in ``calendars.toml``.

What is compared (definitions in :mod:`flowlens.synth.truth` and :mod:`flowlens.synth.waits`):
every bottleneck row of the ground truth carries the log-visible waiting of its event (from the
end of the case's previous step to its start) split by what the simulation knows happened, in
the cause order of docs/methods.md 7.1, and its ``wait_time_s`` is the part its mechanism
produces: B1 the AML reviewer busy (contention + prioritization), B2 held for a batch
(batching), B3 the back-office clerk off shift (unavailability), B5 the customer or the merchant
(extraneous), B6 the department expert busy and B8 the branch manager busy (contention +
prioritization). For each code, flowlens's waiting of those causes on the truth's events must
be within 5 % of the code's total waiting (all causes, on its events) of the truth's
``wait_time_s``.

"Decoy waiting is not attributed to the bank" is read as: on the required steps (D1-D5), the
waiting flowlens attributes to the bank (batching, contention, prioritisation, unavailability:
causes with a bank lever) is within 5 % of each decoy code's total waiting of what the truth
attributes to the bank, so flowlens neither blames the bank for waiting that was the
customer's or a third party's at a required step nor hides the bank's part there; and a
requirement adds no waiting of its own (decoy rows' ``wait_time_s`` is 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from flowlens.analysis.waiting import CAUSES, waiting_causes
from flowlens.timing.calendars import CalendarSet
from flowlens.timing.model import time_model

SEED = 13
CODES = ("B1", "B2", "B3", "B5", "B6", "B8")
BANK = ("batching", "contention", "prioritization", "unavailability")
H = 3600.0


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from flowlens.synth import generate_bank

    out = tmp_path_factory.mktemp("bank_waiting_truth")
    generate_bank("demo", seed=SEED, out_dir=out, remedies="none", formats=("parquet",), jobs=1)
    return out


def _per_event(log: flowlens.EventLog, w: object) -> pd.DataFrame:
    per = (
        log.table.select("eid", "event_id")
        .to_pandas()
        .merge(w.per_instance.to_pandas(), on="eid", how="left")
    )  # type: ignore[attr-defined]
    cols = ["wait_us", *[f"{c}_us" for c in CAUSES]]
    per[cols] = per[cols].fillna(0)
    per = per.set_index("event_id")[cols] / 1e6
    per.columns = ["wait", *CAUSES]
    return per


def _truth(bank: Path) -> pd.DataFrame:
    gt = pd.read_parquet(bank / "ground_truth.parquet")
    gt = gt[gt.kind.isin(["bottleneck", "decoy"])].copy()
    gt["p"] = gt.params.map(json.loads)
    return gt


@pytest.fixture(scope="module")
def compared(bank: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ground-truth B and D rows, and flowlens's causes (seconds) per event id."""
    events = pd.concat(
        [pd.read_parquet(bank / "events.parquet"), pd.read_parquet(bank / "background_events.parquet")],
        ignore_index=True,
    )
    log = flowlens.read_log(events, tz="Asia/Shanghai")
    cals = CalendarSet.from_file(bank / "calendars.toml")
    w = waiting_causes(time_model(log, calendars=cals), calendars=cals)
    return _truth(bank), _per_event(log, w)


@pytest.fixture(scope="module")
def compared_other_work(bank: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same, with the background work given as other work instead of read into the log."""
    log = flowlens.read_log(bank / "events.parquet", tz="Asia/Shanghai")
    other = flowlens.read_log(bank / "background_events.parquet", tz="Asia/Shanghai")
    cals = CalendarSet.from_file(bank / "calendars.toml")
    w = waiting_causes(time_model(log, calendars=cals), calendars=cals, other_work=other)
    return _truth(bank), _per_event(log, w)


def _sums(
    gt: pd.DataFrame, per: pd.DataFrame, code: str
) -> tuple[pd.DataFrame, dict[str, float], dict[str, float]]:
    rows = gt[gt.code == code]
    events = [e for ids in rows.event_ids for e in ids]
    ours = per.loc[events].sum()
    truth = {c: sum(p["wait_split_s"][c] for p in rows.p) for c in CAUSES}
    return rows, truth, {c: float(ours[c]) for c in ("wait", *CAUSES)}


@pytest.mark.parametrize("code", CODES)
def test_bottleneck_cause_agrees_with_the_truth(
    compared: tuple[pd.DataFrame, pd.DataFrame], code: str
) -> None:
    gt, per = compared
    rows, truth, ours = _sums(gt, per, code)
    assert len(rows) >= 20, f"{code}: too few instances in the log to test ({len(rows)})"
    causes = rows.p.iloc[0]["mechanism_causes"]
    truth_wait = float(rows.wait_time_s.sum())
    total = sum(truth.values())  # the code's total waiting: all causes, on its events
    assert truth_wait == pytest.approx(sum(truth[c] for c in causes), rel=1e-6, abs=1.0)
    # flowlens measures the same waiting intervals (its enabled time to the start)
    assert ours["wait"] == pytest.approx(total, rel=0.01)
    flowlens_wait = sum(ours[c] for c in causes)
    err = flowlens_wait - truth_wait
    assert abs(err) <= 0.05 * total, (
        f"{code} ({'+'.join(causes)}): truth {truth_wait / H:,.1f} h, flowlens {flowlens_wait / H:,.1f} h, "
        f"error {err / H:+,.1f} h = {err / total:+.1%} of the code's total waiting {total / H:,.1f} h "
        f"({err / truth_wait:+.1%} of the truth); truth split "
        f"{ {c: round(v / H, 1) for c, v in truth.items()} }, flowlens "
        f"{ {c: round(ours[c] / H, 1) for c in CAUSES} }"
    )


@pytest.mark.parametrize("code", ("B1", "B6", "B8"))
def test_other_work_given_apart_gives_the_same_busy_staff(
    compared: tuple[pd.DataFrame, pd.DataFrame],
    compared_other_work: tuple[pd.DataFrame, pd.DataFrame],
    code: str,
) -> None:
    """``other_work=`` (``--other-work``) sees the staff as busy as reading both files as one
    log does: the busy-staff bottlenecks keep within 5 % of the truth."""
    gt, per = compared_other_work
    rows, truth, ours = _sums(gt, per, code)
    causes = rows.p.iloc[0]["mechanism_causes"]
    err = sum(ours[c] for c in causes) - float(rows.wait_time_s.sum())
    assert abs(err) <= 0.05 * sum(truth.values()), (code, err / 3600)
    _, _, together = _sums(*compared, code)
    assert sum(ours[c] for c in causes) == pytest.approx(sum(together[c] for c in causes), rel=0.01)


def test_decoy_waiting_is_not_attributed_to_the_bank(compared: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    gt, per = compared
    decoys = sorted(gt[gt.kind == "decoy"].code.unique())
    assert {"D1", "D2", "D4", "D5"} <= set(decoys)
    assert (gt[gt.kind == "decoy"].wait_time_s == 0).all()
    checked = 0
    for code in decoys:
        _, truth, ours = _sums(gt, per, code)
        total = sum(truth.values())
        if total < 10 * H:  # required steps nobody waits for (online ID check, step-up)
            assert ours["wait"] < 10 * H, code
            continue
        checked += 1
        bank_truth = sum(truth[c] for c in BANK)
        bank_ours = sum(ours[c] for c in BANK)
        assert abs(bank_ours - bank_truth) <= 0.05 * total, (
            f"{code}: bank-caused waiting truth {bank_truth / H:,.1f} h, flowlens {bank_ours / H:,.1f} h "
            f"of {total / H:,.1f} h; flowlens extraneous {ours['extraneous'] / H:,.1f} h, "
            f"truth {truth['extraneous'] / H:,.1f} h"
        )
    assert checked >= 2


def test_calendar_file_is_the_simulated_shifts(bank: Path) -> None:
    """``calendars.toml`` gives every person's true shifts (meetings aside: they are events)."""
    from flowlens.synth.calendars import DAY, Calendar
    from flowlens.synth.customers import CustomerIndex, make_customers
    from flowlens.synth.presets import get_preset
    from flowlens.synth.processes import MODULES
    from flowlens.synth.runner import RUN_OUT_DAYS
    from flowlens.synth.sim import Switches, World
    from flowlens.synth.writer import epoch_ms

    pre = get_preset("demo")
    cals = CalendarSet.from_file(bank / "calendars.toml")
    n_branches = max(2, round(20 * pre.volume))
    customers = CustomerIndex(make_customers(SEED, 100, n_branches=n_branches))
    base = epoch_ms(pre.start) * 1000
    lo, hi = DAY, (pre.days + RUN_OUT_DAYS - 1) * DAY  # the first night shift starts on day 0
    people = 0
    for process, mod in MODULES.items():
        world = World(
            process=process,
            prefix="X",
            seed=SEED,
            start=pre.start,
            days=pre.days,
            horizon_days=pre.days + RUN_OUT_DAYS,
            volume=pre.volume,
            switches=Switches(),
            customers=customers,
            n_branches=n_branches,
            params={},
        )
        mod.setup(world)
        for agent in world.agents.values():
            people += 1
            shift = Calendar.from_intervals(
                list(zip(agent.cal.starts, agent.cal.ends, strict=True)) + agent.meetings
            )
            given = cals.for_resource(agent.id)
            assert given.name == agent.cal_key, agent.id
            iv = given.intervals(base + int(lo * 1e6), base + int(hi * 1e6))
            from_file = Calendar.from_intervals([((a - base) / 1e6, (b - base) / 1e6) for a, b in iv])

            def clip(c: Calendar) -> list[tuple[float, float]]:
                return [
                    (round(max(a, lo)), round(min(b, hi)))
                    for a, b in zip(c.starts, c.ends, strict=True)
                    if b > lo and a < hi
                ]

            assert clip(shift) == clip(from_file), agent.id
    assert people > 100
