"""``benchmarks/complaint_clearing.py``: when the complaint callbacks' backlog clears (issue 12,
a diagnostic of the complaint rows' wrong signs)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from conftest import REPO, load_script

C = load_script(REPO / "benchmarks" / "complaint_clearing.py")


def _events(rows: list[tuple[str, str, str, int, int]]) -> pd.DataFrame:
    t0 = pd.Timestamp("2024-11-18 01:00", tz="UTC")
    return pd.DataFrame(
        {
            "case_id": [r[0] for r in rows],
            "activity": [r[1] for r in rows],
            "resource_id": [r[2] for r in rows],
            "start_ts": [t0 + pd.Timedelta(hours=r[3]) for r in rows],
            "end_ts": [t0 + pd.Timedelta(hours=r[4]) for r in rows],
        }
    )


def test_the_clearing_is_the_first_callback_after_the_longest_stretch_without_one() -> None:
    # callbacks at hours 0 and 2, none until 50, then a run: the run starts at 50
    hours = [0, 2, 50, 51, 52]
    ev = _events([(f"c{i}", C.CALLBACK, "h1", h, h) for i, h in enumerate(hours)])
    assert C.clearing(ev) == ev.start_ts.iloc[2]


def test_the_waiting_work_counts_the_staff_s_ready_steps_not_started_callbacks_left_out() -> None:
    ev = _events(
        [
            ("a", "Register", "h1", 0, 1),
            ("a", "Investigate", "h1", 5, 8),  # ready at 1, started at 5: waiting at 3, 3 h
            ("b", "Register", "h1", 1, 2),
            ("b", "Investigate", "other", 4, 6),  # someone else's: not counted
            ("c", "Close", "sys", 0, 0),
            ("c", C.CALLBACK, "h1", 10, 11),  # a callback: the backlog it waits behind, not counted
            ("d", "Register", "h1", 4, 5),  # not ready yet at 3
        ]
    )
    at = ev.start_ts.min() + pd.Timedelta(hours=3)
    assert np.isclose(C.waiting_work_h(ev, at, {"h1"}), 3.0)
