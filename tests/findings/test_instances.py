"""The shared instance table of the rework and ping-pong detectors (flowlens.findings.instances)
and the counters read from it: the occurrence, the previous instance of the same step, and
rework's visit counter (row numbers, not a running sum)."""

from __future__ import annotations

import flowlens
from conftest import shared_path  # type: ignore[import-not-found]
from flowlens.findings import rework
from flowlens.findings.context import FindingContext
from flowlens.findings.instances import cases_per_activity, contacts_of, instance_table, with_case_id

from ._rework_data import log_from, seq_rows

#: a step done in sittings (a, a), returned to after other work (b, c), and a queue in between
#: (a wait step does not end a visit)
STEPS = [
    ("a", "x"),
    ("a", "y"),
    ("b", "x"),
    ("a", "x"),
    ("Queued", "sys"),
    ("a", "x"),
    ("c", "z"),
    ("a", "y"),
]


def _ctx() -> FindingContext:
    rows = seq_rows("k1", STEPS) + seq_rows("k2", [("b", "x"), ("a", "x"), ("b", "x")])
    return FindingContext(log_from(rows))


def test_occurrence_and_previous_instance_of_the_same_step() -> None:
    ctx = _ctx()
    t = with_case_id(ctx, instance_table(ctx)).order_by(["case_idx", "pos"]).to_pandas()
    k1 = t[t.case_id == "k1"]
    assert k1.activity.tolist() == [a for a, _ in STEPS]
    assert k1.occ.tolist() == [1, 2, 1, 3, 1, 4, 1, 5]
    prev = [None if v != v else int(v) for v in k1.prev_same_pos]
    assert prev == [None, 0, None, 1, None, 3, None, 5]
    # the previous instance's eid and end are those of the instance at that position
    by_pos = k1.set_index("pos")
    for _, r in k1[k1.prev_same_pos.notna()].iterrows():
        assert r.prev_same_eid == by_pos.eid[int(r.prev_same_pos)]
        assert r.prev_same_end == by_pos.end_us[int(r.prev_same_pos)]
    # one integer code per activity, in name order
    codes = t.drop_duplicates("activity").set_index("activity").acode.sort_index()
    assert codes.tolist() == list(range(len(codes)))
    k2 = t[t.case_id == "k2"]
    assert k2.occ.tolist() == [1, 1, 2]
    # the log has no contact column: no contacts to look up
    assert contacts_of(ctx) is None


def test_stored_instance_and_repeat_tables_hold_integers_alone() -> None:
    # the case id, activity, resources and contact are looked up where read: the stored
    # tables behind the instance and repeat tables have no text column
    ctx = _ctx()
    rp = rework.repeats(ctx)
    con = ctx.log.engine.duckdb
    rows = con.execute(
        "SELECT t.table_name, c.data_type FROM duckdb_tables() t JOIN duckdb_columns() c "
        "ON c.table_oid = t.table_oid WHERE t.table_name LIKE 'fl_finstances%' OR t.table_name SIMILAR TO 'fl_rework_[0-9]+'"
    ).fetchall()
    assert {n.rsplit("_", 1)[0] for n, _ in rows} == {"fl_finstances", "fl_rework"}
    assert all(ty != "VARCHAR" for _, ty in rows), rows
    assert {"activity", "anchor", "bounce", "staff"} <= set(rp.table.columns)


def test_visits_count_new_work_and_continue_through_sittings_and_waiting() -> None:
    ctx = _ctx()
    t = with_case_id(ctx, rework.repeats(ctx).table).order_by(["case_idx", "pos"]).to_pandas()
    a = t[(t.case_id == "k1") & (t.activity == "a")]
    # a a | b | a (queue) a | c | a: three visits; the returns start visits 2 and 3
    assert a.visit.tolist() == [1, 1, 2, 2, 3]
    assert a.anchor.tolist() == [False, False, True, False, True]
    b = t[(t.case_id == "k2") & (t.activity == "b")]
    assert b.visit.tolist() == [1, 2] and b.anchor.tolist() == [False, True]


def _distinct_cases(ctx: FindingContext, *, before_stop: bool) -> dict[str, int]:
    """Cases per activity as a count of distinct cases (what cases_per_activity replaces)."""
    i = ctx.tm.instances
    if before_stop:
        i = i.filter(~i.after_stop)
    df = i.group_by("activity").aggregate(n=i.case_idx.nunique()).to_pandas()
    return dict(zip(df.activity.astype(str), df.n.astype(int), strict=True))


def test_cases_per_activity_counts_cases_and_those_before_the_clock_stop() -> None:
    # k1's clock stops at "Decision": its later "a" and "Archive" are after it; k3 has "a"
    # only after the stop
    rows = (
        seq_rows("k1", [("a", "x"), ("a", "x"), ("Decision", "y"), ("a", "x"), ("Archive", "z")])
        + seq_rows("k2", [("b", "x"), ("a", "x"), ("Decision", "y")])
        + seq_rows("k3", [("b", "x"), ("Decision", "y"), ("a", "x")])
    )
    ctx = FindingContext(log_from(rows), clock_stop="Decision")
    assert cases_per_activity(ctx) == {"Archive": 1, "Decision": 3, "a": 3, "b": 2}
    assert cases_per_activity(ctx, before_stop=True) == {"Decision": 3, "a": 2, "b": 2}
    for before in (False, True):
        assert cases_per_activity(ctx, before_stop=before) == _distinct_cases(ctx, before_stop=before)


def test_cases_per_activity_equals_distinct_cases_on_a_real_log() -> None:
    # Sepsis: "Return ER" is mostly after the clock stop (3 of its 294 cases before it)
    ctx = FindingContext(flowlens.read_log(shared_path("sepsis")))
    assert cases_per_activity(ctx)["Return ER"] > cases_per_activity(ctx, before_stop=True)["Return ER"] > 0
    for before in (False, True):
        assert cases_per_activity(ctx, before_stop=before) == _distinct_cases(ctx, before_stop=before)
