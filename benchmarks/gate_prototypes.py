"""Prototype rewrites of flowlens's costliest bundle statements, timed against the current SQL.

    .venv/bin/python benchmarks/gate_prototypes.py benchmarks/data/bundle_1e7_seed42.parquet

Standalone DuckDB, no flowlens import: the "current" statements are the ones
``profile_flowlens.py`` recorded for this kind of log (Parquet, typed timestamps, UTC, no
lifecycle, no attributes) at commit c280870 of ``src/flowlens/io/gate.py`` and
``src/flowlens/discovery/*.py``; each "proposed" one is checked to give the same result
(table checksums or equal outputs) before its time is reported. For the people editing
``src/``: evidence for the suggestions in README.md, not code to import.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import duckdb

NOW = 1795892444925797  # a fixed "now" so both flag queries see the same future
ROWS: list[tuple[str, str, float]] = []


def run(con: duckdb.DuckDBPyConnection, group: str, name: str, sql: str) -> Any:
    t0 = time.perf_counter()
    out = con.execute(sql).fetchall()
    dt = time.perf_counter() - t0
    ROWS.append((group, name, dt))
    print(f"  {group:<10} {name:<44} {dt:7.2f} s", flush=True)
    return out


def checksum(con: duckdb.DuckDBPyConnection, table: str, cols: str) -> Any:
    return con.execute(f"SELECT count(*), sum(hash({cols})) FROM {table}").fetchone()


def lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--ingest-only", action="store_true", help="stop after the ingest part")
    args = p.parse_args()
    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    src = lit(args.path)

    print("ingest: reader + gate up to the instance table")
    run(con, "ingest", "current: raw", f"CREATE TABLE raw AS SELECT * FROM read_parquet({src})")
    run(
        con,
        "ingest",
        "current: parsed",
        """
        CREATE TEMP TABLE parsed AS SELECT CAST((rowid + 1) AS BIGINT) AS __row,
          NULLIF(trim(CAST(case_id AS VARCHAR)), '') AS case_id,
          NULLIF(trim(CAST(activity AS VARCHAR)), '') AS activity,
          epoch_us(timezone('UTC', CAST(start_time AS TIMESTAMP))) AS start_us,
          epoch_us(timezone('UTC', CAST(end_time AS TIMESTAMP))) AS end_us,
          NULLIF(trim(CAST(start_time AS VARCHAR)), '') AS __start_raw,
          NULLIF(trim(CAST(end_time AS VARCHAR)), '') AS __end_raw,
          NULLIF(trim(CAST(resource AS VARCHAR)), '') AS resource,
          CAST(NULL AS VARCHAR) AS __lc FROM raw""",
    )
    run(
        con,
        "ingest",
        "current: checked",
        """
        CREATE TEMP TABLE checked AS SELECT *,
          CASE WHEN case_id IS NULL THEN 'missing case id' WHEN activity IS NULL THEN 'missing activity'
               WHEN __end_raw IS NULL THEN 'missing timestamp' WHEN end_us IS NULL THEN 'unparseable timestamp'
               WHEN __start_raw IS NOT NULL AND start_us IS NULL THEN 'unparseable start time'
               WHEN start_us > end_us THEN 'end before start' END AS __reason,
          CASE WHEN case_id IS NULL THEN 'column case_id is empty' WHEN activity IS NULL THEN 'column activity is empty'
               WHEN __end_raw IS NULL THEN 'column end_time is empty'
               WHEN end_us IS NULL THEN 'value end_time=' || __end_raw
               WHEN __start_raw IS NOT NULL AND start_us IS NULL THEN 'value start_time=' || __start_raw
               WHEN start_us > end_us THEN 'start ' || __start_raw || ' is after end ' || __end_raw
               WHEN __lc IS NOT NULL THEN 'value ' || __lc END AS __detail
        FROM parsed""",
    )
    con.execute("DROP TABLE parsed")
    run(
        con,
        "ingest",
        "current: deduped (window min over 7 keys)",
        """
        CREATE TEMP TABLE deduped AS SELECT *, CASE WHEN __reason IS NULL THEN min(__row) OVER (
          PARTITION BY __reason IS NULL, case_id, activity, start_us, end_us, resource, __lc) END AS __first
        FROM checked""",
    )
    con.execute("DROP TABLE checked")
    run(
        con,
        "ingest",
        "current: valid",
        """CREATE TEMP TABLE valid AS
        SELECT * EXCLUDE (__first, __reason, __detail) FROM deduped WHERE __reason IS NULL AND __first = __row""",
    )
    run(
        con,
        "ingest",
        "current: qrows",
        """CREATE TEMP TABLE qrows AS SELECT __row,
        coalesce(__reason, 'duplicate') AS reason, coalesce(__detail, 'same values as row ' || __first) AS detail
        FROM deduped WHERE __reason IS NOT NULL OR __first <> __row""",
    )
    con.execute("DROP TABLE deduped")
    run(
        con,
        "ingest",
        "current: instances",
        """CREATE TEMP TABLE instances AS
        SELECT case_id, activity, start_us, end_us, resource, __row AS src_row FROM valid""",
    )
    con.execute("DROP TABLE valid")
    con.execute("DROP TABLE raw")

    # Cheap expressions only: a typed naive timestamp read as UTC is epoch_us(ts) (no ICU
    # timezone() call), "is the raw value empty" is IS NULL (no timestamp-to-text formatting).
    run(
        con,
        "ingest",
        "proposed: parsed (UTC fast path, no ts->text)",
        f"""
        CREATE TEMP TABLE parsed2 AS
        SELECT CAST(file_row_number + 1 AS BIGINT) AS src_row,
               NULLIF(trim(case_id), '') AS case_id, NULLIF(trim(activity), '') AS activity,
               epoch_us(start_time) AS start_us, epoch_us(end_time) AS end_us,
               NULLIF(trim(resource), '') AS resource
        FROM read_parquet({src}, file_row_number = true)""",
    )
    ok = (
        "case_id IS NOT NULL AND activity IS NOT NULL AND end_us IS NOT NULL "
        "AND coalesce(start_us <= end_us, true)"
    )
    run(
        con,
        "ingest",
        "proposed: instances = valid rows",
        f"""
        CREATE TEMP TABLE inst2 AS SELECT case_id, activity, start_us, end_us, resource, src_row
        FROM parsed2 WHERE {ok}""",
    )
    run(
        con,
        "ingest",
        "proposed: quarantine rows, reason only there",
        f"""
        CREATE TEMP TABLE qrows2 AS SELECT src_row, CASE WHEN case_id IS NULL THEN 'missing case id'
          WHEN activity IS NULL THEN 'missing activity' WHEN end_us IS NULL THEN 'missing timestamp'
          ELSE 'end before start' END AS reason
        FROM parsed2 WHERE NOT ({ok})""",
    )
    con.execute("DROP TABLE parsed2")
    dups = run(
        con,
        "ingest",
        "proposed: duplicates by GROUP BY ... HAVING",
        """
        SELECT count(*) FROM (SELECT min(src_row) FROM inst2
          GROUP BY case_id, activity, start_us, end_us, resource HAVING count(*) > 1)""",
    )
    print(f"    duplicate groups: {dups[0][0]} (the anti-join is needed only when > 0)")
    cols = "case_id, activity, start_us, end_us, resource, src_row"
    same = checksum(con, "instances", cols) == checksum(con, "inst2", cols)
    print(f"    instances equal: {same}")
    con.execute("DROP TABLE inst2")
    if args.ingest_only:
        return 0

    print("events: case numbering, order, positions")
    run(
        con,
        "events",
        "current: 3 windows + ORDER BY",
        """
        CREATE TABLE events AS
        WITH cases AS (SELECT case_id, row_number() OVER (ORDER BY min(coalesce(start_us, end_us)), case_id) - 1
                         AS case_idx FROM instances GROUP BY case_id),
        ordered AS (SELECT c.case_idx, i.*, row_number() OVER (PARTITION BY c.case_idx ORDER BY i.end_us, i.src_row) - 1
                      AS pos FROM instances i JOIN cases c USING (case_id))
        SELECT row_number() OVER (ORDER BY case_idx, pos) - 1 AS eid, case_idx, case_id, pos, activity, start_us,
               end_us, resource, src_row FROM ordered ORDER BY case_idx, pos""",
    )
    run(
        con,
        "events",
        "proposed: case table (611k rows)",
        """
        CREATE TABLE cases AS
        WITH c AS (SELECT case_id, min(coalesce(start_us, end_us)) AS start_us, max(end_us) AS end_us,
                          count(*) AS n FROM instances GROUP BY case_id),
        k AS (SELECT *, row_number() OVER (ORDER BY start_us, case_id) - 1 AS case_idx FROM c)
        SELECT case_idx, case_id, start_us, end_us, n,
               sum(n) OVER (ORDER BY case_idx ROWS UNBOUNDED PRECEDING) - n AS first_eid FROM k""",
    )
    run(
        con,
        "events",
        "proposed: one sort; eid = rowid, pos = eid - first",
        """
        CREATE TABLE events_sorted AS
        SELECT c.case_idx, c.first_eid, i.activity, i.start_us, i.end_us, i.resource, i.src_row
        FROM instances i JOIN cases c USING (case_id) ORDER BY c.case_idx, i.end_us, i.src_row""",
    )
    run(
        con,
        "events",
        "proposed: (+ copy adding eid, pos columns)",
        """
        CREATE TABLE events2 AS SELECT rowid AS eid, case_idx, rowid - first_eid AS pos, activity,
          start_us, end_us, resource, src_row FROM events_sorted""",
    )
    cols = "eid, case_idx, pos, activity, start_us, end_us, resource, src_row"
    same = checksum(con, "events", cols) == checksum(con, "events2", cols)
    print(f"    events equal (case_id moved to the case table): {same}")
    con.execute("DROP TABLE events_sorted")

    print("flags: the data-quality flags query")
    current_flags = f"""
        WITH e AS (SELECT *, count(*) OVER (PARTITION BY case_idx, end_us) AS same_ts,
                 lag(end_us) OVER (PARTITION BY case_idx ORDER BY pos) AS prev_end,
                 count(*) OVER (PARTITION BY case_idx) AS case_len FROM events),
        bt AS (SELECT end_us FROM events GROUP BY end_us HAVING count(*) >= 10 AND count(DISTINCT case_idx) >= 5),
        ends AS (SELECT activity FROM (SELECT activity, count(DISTINCT case_idx) AS n,
                   count(*) FILTER (WHERE is_last) AS n_last
                 FROM (SELECT activity, case_idx, pos = max(pos) OVER (PARTITION BY case_idx) AS is_last FROM events)
                 GROUP BY activity) WHERE n_last < 0.05 * n)
        SELECT count(*) FILTER (WHERE same_ts > 1), count(DISTINCT case_idx) FILTER (WHERE same_ts > 1),
          count(*) FILTER (WHERE end_us IN (SELECT end_us FROM bt)),
          count(DISTINCT case_idx) FILTER (WHERE end_us IN (SELECT end_us FROM bt)),
          count(DISTINCT case_idx) FILTER (WHERE case_len = 1),
          count(*) FILTER (WHERE end_us > {NOW} OR start_us > {NOW}),
          count(DISTINCT case_idx) FILTER (WHERE end_us > {NOW} OR start_us > {NOW}),
          count(*) FILTER (WHERE coalesce(start_us, end_us) < prev_end),
          count(DISTINCT case_idx) FILTER (WHERE coalesce(start_us, end_us) < prev_end),
          count(*) FILTER (WHERE resource IS NULL), count(DISTINCT case_idx) FILTER (WHERE resource IS NULL),
          count(*) FILTER (WHERE start_us IS NULL),
          count(*) FILTER (WHERE CAST(timezone('UTC', make_timestamptz(end_us)) AS TIME) = TIME '00:00:00'),
          count(DISTINCT case_idx) FILTER (WHERE pos = case_len - 1 AND activity IN (SELECT activity FROM ends))
        FROM e"""
    a = run(con, "flags", "current: 4 windows + 7 count(DISTINCT)", current_flags)
    proposed_flags = f"""
        WITH same AS (SELECT case_idx, count(*) AS k FROM events GROUP BY case_idx, end_us HAVING count(*) > 1),
        btc AS (SELECT end_us FROM events GROUP BY end_us HAVING count(*) >= 10),
        bt AS (SELECT e.end_us FROM events e SEMI JOIN btc USING (end_us)
               GROUP BY e.end_us HAVING count(DISTINCT e.case_idx) >= 5),
        bt_rows AS (SELECT e.case_idx FROM events e SEMI JOIN bt USING (end_us)),
        neg AS (SELECT b.case_idx FROM events a JOIN events b ON b.eid = a.eid + 1 AND b.case_idx = a.case_idx
                WHERE coalesce(b.start_us, b.end_us) < a.end_us),
        per_case AS (SELECT case_idx, count(*) AS n, arg_max(activity, pos) AS last_act,
            count(*) FILTER (WHERE end_us > {NOW} OR start_us > {NOW}) AS fut,
            count(*) FILTER (WHERE resource IS NULL) AS nores,
            count(*) FILTER (WHERE start_us IS NULL) AS nostart,
            count(*) FILTER (WHERE CAST(timezone('UTC', make_timestamptz(end_us)) AS TIME) = TIME '00:00:00') AS mid
          FROM events GROUP BY case_idx),
        act_cases AS (SELECT activity, count(*) AS n FROM (SELECT DISTINCT case_idx, activity FROM events)
                      GROUP BY activity),
        act_last AS (SELECT last_act AS activity, count(*) AS n_last FROM per_case GROUP BY 1),
        ends AS (SELECT a.activity FROM act_cases a LEFT JOIN act_last l USING (activity)
                 WHERE coalesce(l.n_last, 0) < 0.05 * a.n)
        SELECT (SELECT coalesce(sum(k), 0) FROM same), (SELECT count(DISTINCT case_idx) FROM same),
          (SELECT count(*) FROM bt_rows), (SELECT count(DISTINCT case_idx) FROM bt_rows),
          count(*) FILTER (WHERE n = 1), coalesce(sum(fut), 0), count(*) FILTER (WHERE fut > 0),
          (SELECT count(*) FROM neg), (SELECT count(DISTINCT case_idx) FROM neg),
          coalesce(sum(nores), 0), count(*) FILTER (WHERE nores > 0), coalesce(sum(nostart), 0),
          coalesce(sum(mid), 0), count(*) FILTER (WHERE last_act IN (SELECT activity FROM ends))
        FROM per_case"""
    b = run(con, "flags", "proposed: group-bys, neighbour join, per case", proposed_flags)
    print(f"    flags equal: {[int(x) for x in a[0]] == [int(x) for x in b[0]]}  {list(a[0])}")

    print("variants")
    current_variants = """
        SELECT t6.seq, count(*) AS count, quantile_cont(t6.lead_us, 0.5) / 1e6 AS lead_median_s,
               avg(t6.lead_us) / 1e6 AS lead_mean_s, min(t6.case_idx) AS first_case,
               first(t6.case_id ORDER BY t6.case_idx) AS example_case
        FROM (SELECT t3.case_idx, t3.seq, t5.case_id, t5.lead_us FROM
               (SELECT case_idx, array_agg(activity ORDER BY pos) FILTER (WHERE activity IS NOT NULL) AS seq
                FROM events GROUP BY 1) t3
               JOIN (SELECT case_idx, case_id, max(end_us) - min(coalesce(start_us, end_us)) AS lead_us
                     FROM events GROUP BY 1, 2) t5 ON t3.case_idx = t5.case_idx) t6
        GROUP BY 1"""
    va = run(con, "variants", "current: ordered array_agg + case join", current_variants)
    run(
        con,
        "variants",
        "proposed: activity codes (ENUM-like)",
        """
        CREATE TABLE codes AS SELECT activity, CAST(row_number() OVER (ORDER BY activity) AS UTINYINT) AS code
        FROM (SELECT DISTINCT activity FROM events)""",
    )
    run(
        con,
        "variants",
        "  (one-off: code column in events)",
        """
        CREATE TABLE ev_codes AS SELECT e.eid, e.case_idx, e.pos, c.code, e.start_us, e.end_us
        FROM events e JOIN codes c USING (activity)""",
    )
    proposed_variants = """
        WITH h AS (SELECT case_idx, sum(hash(code, pos)) AS hv, count(*) AS n,
                          max(end_us) - min(coalesce(start_us, end_us)) AS lead_us
                   FROM ev_codes GROUP BY case_idx),
        v AS (SELECT hv, n, count(*) AS count, quantile_cont(lead_us, 0.5) / 1e6 AS lead_median_s,
                     avg(lead_us) / 1e6 AS lead_mean_s, min(case_idx) AS first_case FROM h GROUP BY hv, n),
        seqs AS (SELECT e.case_idx, array_agg(c.activity ORDER BY e.pos) AS seq
                 FROM ev_codes e JOIN codes c USING (code) SEMI JOIN v ON e.case_idx = v.first_case
                 GROUP BY e.case_idx)
        SELECT s.seq, v.count, v.lead_median_s, v.lead_mean_s, v.first_case
        FROM v JOIN seqs s ON s.case_idx = v.first_case"""
    vb = run(con, "variants", "proposed: order-free hash per case", proposed_variants)
    ka = sorted((tuple(r[0]), r[1], r[4]) for r in va)
    kb = sorted((tuple(r[0]), r[1], r[4]) for r in vb)
    print(f"    variants equal (sequence, count, first case): {ka == kb} ({len(ka)} variants)")

    print("directly-follows edges")
    current_edges = """
        SELECT source, target, count(*) AS count, count(DISTINCT case_idx) AS cases,
               avg(wait_us) / 1e6, sum(wait_us) / 1e6, quantile_cont(wait_us, 0.5) / 1e6,
               quantile_cont(wait_us, 0.9) / 1e6
        FROM (SELECT a.case_idx, a.activity AS source, b.activity AS target,
                     greatest(coalesce(b.start_us, b.end_us) - a.end_us, 0) AS wait_us
              FROM events a JOIN events b ON b.eid = a.eid + 1 AND b.case_idx = a.case_idx)
        GROUP BY 1, 2"""
    ea = run(con, "edges", "current: join eid+1, count(DISTINCT case)", current_edges)
    run(
        con,
        "edges",
        "  same without count(DISTINCT case)",
        current_edges.replace("count(DISTINCT case_idx)", "0"),
    )
    run(
        con,
        "edges",
        "proposed: join on integer codes, no DISTINCT",
        """
        SELECT a.code AS source, b.code AS target, count(*), avg(greatest(coalesce(b.start_us, b.end_us) - a.end_us, 0)),
               quantile_cont(greatest(coalesce(b.start_us, b.end_us) - a.end_us, 0), [0.5, 0.9])
        FROM ev_codes a JOIN ev_codes b ON b.eid = a.eid + 1 AND b.case_idx = a.case_idx GROUP BY 1, 2""",
    )
    eb = run(
        con,
        "edges",
        "proposed: cases per edge from variants",
        f"""
        WITH v AS ({proposed_variants}),
        p AS (SELECT v.count, u.i, v.seq[u.i] AS source, v.seq[u.i + 1] AS target, v.first_case
              FROM v, LATERAL (SELECT unnest(range(1, len(v.seq))) AS i) u)
        SELECT source, target, sum(count) FROM (SELECT DISTINCT first_case, source, target, count FROM p)
        GROUP BY 1, 2""",
    )
    ca = sorted((r[0], r[1], r[3]) for r in ea)
    cb = sorted((r[0], r[1], r[2]) for r in eb)
    print(f"    cases per edge equal: {ca == cb} ({len(ca)} edges)")

    print("\nsummary (s):")
    groups: dict[str, dict[str, float]] = {}
    for g, name, dt in ROWS:
        kind = "current" if name.startswith("current") else "proposed"
        if name.startswith(("current", "proposed")):
            groups.setdefault(g, {}).setdefault(kind, 0.0)
            groups[g][kind] += dt
    for g, d in groups.items():
        print(f"  {g:<10} current {d.get('current', 0):7.2f}   proposed {d.get('proposed', 0):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
