"""Detectors kept in the engine give the numbers the per-instance versions gave (issue 14).

The no-effect and merge detectors now bring one row per case into Python instead of one per
instance (:func:`flowlens.findings.model.engine_case_seconds`); the journey steps find an issue's
first step with two hash aggregates instead of a window. These tests pin that the results are
the same to the last bit, on generated tables with ties and cases of several rows.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from flowlens.findings._customer import _first_of_issue
from flowlens.findings.model import engine_case_seconds, per_case_seconds


def _rows(seed: int, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "eid": rng.permutation(n).astype("int64"),
            "case_id": [f"c{int(k)}" for k in rng.integers(0, n // 3, n)],
            "act": rng.choice(["a", "b", "c"], n),
            # microseconds as the detectors have them: sums of their /1e6 lose bits
            "us": rng.integers(0, 10**12, n).astype("int64"),
        }
    )
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_engine_case_seconds_equals_per_case_seconds_bit_for_bit() -> None:
    for seed in range(3):
        df = _rows(seed)
        t = ibis.memtable(df)
        got = engine_case_seconds(t, ["act"], t.us.cast("float64") / 1e6)
        assert (got.n > 1).any()  # cases of several rows are summed in Python, in eid order
        for act, g in df.sort_values("eid").groupby("act"):
            want = per_case_seconds(g.case_id, g.us.astype(float) / 1e6)
            mine = got[got.act == act]
            assert list(mine.case_id) == list(want)
            assert [float(v).hex() for v in mine.s] == [float(v).hex() for v in want.values()]
            assert int(mine.n.sum()) == len(g)


def test_first_step_of_an_issue_equals_the_window_definition() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    df = pd.DataFrame(
        {
            "eid": rng.permutation(n).astype("int64"),
            "case_idx": rng.integers(0, 300, n),
            "issue_idx": rng.integers(0, 200, n),
            # few distinct times: ties on s are common, broken by eid
            "s": rng.integers(0, 5, n),
            "fam": rng.choice(["app", "phone", None], n),
            "activity": rng.choice(list("pqrs"), n),
        }
    )
    t = ibis.memtable(df)
    got = _first_of_issue(t).to_pandas().sort_values("issue_idx").reset_index(drop=True)
    want = df.sort_values(["issue_idx", "s", "eid"]).groupby("issue_idx").head(1).reset_index(drop=True)
    cols = ["issue_idx", "eid", "case_idx", "s", "activity"]
    pd.testing.assert_frame_equal(got[cols], want[cols], check_dtype=False)
