"""Several processes in one log: finding the process column and splitting cases by it.

A bank's export can hold account openings, loans, complaints and service calls side by side.
Mixed together they give lead-time histograms with several humps, "drivers" that only say one
process is longer than another, and deadlines applied to cases they do not cover. flowlens
therefore looks for a **process column** (docs/methods.md §3.5): a case attribute whose values
split the activities into nearly disjoint sets.

For each candidate column (constant within cases, 2 to :data:`MAX_PROCESSES` values, at least two
of them with :data:`MIN_CASES` cases and 1 % of the cases) it measures, over activity instances,

* **purity**: the share of instances whose activity's most common value is their own value
  (how well the activity alone tells the process);
* **baseline**: the share of the most common value (how well one guesses without the activity);
* **separation** = (purity − baseline) ÷ (1 − baseline): the share of the guessing error the
  activity removes (1 = disjoint activity sets, 0 = the activity says nothing).

A column named like a process (process, process_type, workflow, 流程, ...) is the process column
when its separation is at least :data:`NAMED_SEPARATION`; any other column needs
:data:`SEPARATION` (nearly disjoint activity sets). The named column with the highest separation
wins, else the other column with the highest.

>>> import pandas as pd, flowlens
>>> rows = [{"case": f"{p}{i}", "activity": a, "kind": p, "tier": "gold" if i % 2 else "std",
...          "timestamp": pd.Timestamp("2024-01-01") + pd.Timedelta(hours=k)}
...         for p, acts in (("loan", ["Apply", "Score", "Decide"]), ("claim", ["File", "Assess", "Pay"]))
...         for i in range(10) for k, a in enumerate(acts)]
>>> split = detect_processes(flowlens.read_log(pd.DataFrame(rows)))
>>> split.name, split.processes, round(split.separation, 2)
('kind', ['claim', 'loan'], 1.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowlens.errors import ConfigError
from flowlens.i18n import M_
from flowlens.units import percent_value

if TYPE_CHECKING:
    import ibis

    from flowlens.log import EventLog

#: Most values a process column may have (more are segments or identifiers, not processes).
MAX_PROCESSES = 30
#: Cases each of at least two values needs (and 1 % of the cases).
MIN_CASES = 5
#: Separation an unnamed column needs: the activity tells the value almost always.
SEPARATION = 0.9
#: Separation a column named like a process needs: the activity removes most of the guessing.
NAMED_SEPARATION = 0.5
#: Share of cases in which a case attribute may take more than one value.
MAX_VARYING = 0.01
#: Names (compared without case, spaces, ``_``, ``-``, ``:``, ``.``) that say "process".
PROCESS_NAMES = (
    "process",
    "process_type",
    "process_name",
    "processtype",
    "process_id",
    "case:process",
    "workflow",
    "workflow_type",
    "business_process",
    "case_type",
    "流程",
    "流程类型",
    "业务流程",
    "业务类型",
)
#: Label of cases without a value of the process column.
NO_PROCESS = "(no process)"


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-:./()]+", "", str(name).strip().lower())


_NAMED = {_norm(n) for n in PROCESS_NAMES}


@dataclass(frozen=True)
class ProcessSplit:
    """The process column of a log and how cleanly it splits the activities."""

    #: canonical column in ``log.table``
    column: str
    #: the column's name in the source
    name: str
    #: process value -> cases, the largest first (ties by value)
    cases: dict[str, int]
    separation: float
    purity: float
    baseline: float
    named: bool
    #: activities that occur in more than one process
    shared_activities: tuple[str, ...] = ()
    #: cases without a value (analysed as :data:`NO_PROCESS`)
    missing: int = 0
    #: how the column was chosen ("given", or the rule that found it)
    reason: str = ""

    @property
    def processes(self) -> list[str]:
        """The process values, sorted by name."""
        return sorted(self.cases)

    @property
    def n(self) -> int:
        return len(self.cases)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.name,
            "processes": [{"process": p, "cases": c} for p, c in self.cases.items()],
            "separation": self.separation,
            "purity": self.purity,
            "baseline": self.baseline,
            "named": self.named,
            "shared_activities": list(self.shared_activities),
            "missing": self.missing,
            "reason": self.reason,
        }


def _candidates(log: EventLog, only: list[str] | None = None) -> pd.DataFrame:
    """Case-level text, boolean or integer attributes with 2..MAX_PROCESSES values: column,
    levels, varying (share of cases with several values)."""
    t = log.table
    schema = t.schema()
    cols = []
    for canon in only if only is not None else list(log.attributes):
        dt = schema[canon]
        if dt.is_string() or dt.is_boolean() or dt.is_integer():
            cols.append(canon)
    if not cols:
        return pd.DataFrame(columns=["column", "levels", "varying"])
    levels = t.aggregate(**{f"v{i}": t[c].nunique() for i, c in enumerate(cols)}).to_pandas().iloc[0]
    keep = [c for i, c in enumerate(cols) if 2 <= int(levels[f"v{i}"]) <= MAX_PROCESSES or only is not None]
    if not keep:
        return pd.DataFrame(columns=["column", "levels", "varying"])
    per = t.group_by("case_idx").aggregate(**{f"v{i}": t[c].nunique() for i, c in enumerate(keep)})
    agg = per.aggregate(
        n=per.count(), **{f"v{i}": (per[f"v{i}"] > 1).cast("int64").sum() for i in range(len(keep))}
    )
    row = agg.to_pandas().iloc[0]
    n = max(int(row["n"]), 1)
    return pd.DataFrame(
        {
            "column": keep,
            "levels": [int(levels[f"v{cols.index(c)}"]) for c in keep],
            "varying": [int(row[f"v{i}"]) / n for i in range(len(keep))],
        }
    )


def case_values(log: EventLog, column: str) -> ibis.Table:
    """case_idx and the column's value at the case's first instance with one, as text
    (column ``process``).

    >>> import pandas as pd, flowlens
    >>> log = flowlens.read_log(pd.DataFrame({"case": ["1", "1"], "activity": ["a", "b"],
    ...     "timestamp": ["2024-01-01", "2024-01-02"], "kind": [None, "loan"]}))
    >>> case_values(log, "kind").to_pandas()["process"].tolist()
    ['loan']
    """
    t = log.table
    v = t[column].cast("string")
    return t.group_by("case_idx").aggregate(process=v.argmin(t.eid, where=v.notnull()))


def _score(log: EventLog, column: str) -> dict[str, Any]:
    """Cases per value, purity, baseline, separation and shared activities of one column
    (instances weighted by their case's value, so the score does not depend on the column
    being repeated on every instance)."""
    t = log.table
    cv = case_values(log, column)
    ev = t.select("case_idx", "activity").join(cv, "case_idx")
    ev = ev.filter(ev.process.notnull())
    counts = ev.group_by(["activity", "process"]).aggregate(n=ev.count()).to_pandas()
    per_case = cv.group_by("process").aggregate(cases=cv.count()).to_pandas()
    missing = int(per_case.loc[per_case.process.isna(), "cases"].sum())
    per_case = per_case[per_case.process.notna()]
    total = float(counts.n.sum())
    if total <= 0 or per_case.empty:
        return {
            "separation": 0.0,
            "purity": 0.0,
            "baseline": 1.0,
            "cases": {},
            "shared": (),
            "missing": missing,
        }
    purity = float(counts.groupby("activity").n.max().sum()) / total
    baseline = float(counts.groupby("process").n.sum().max()) / total
    separation = (purity - baseline) / (1.0 - baseline) if baseline < 1.0 else 0.0
    spread = counts.groupby("activity").process.nunique()
    shared = tuple(sorted(spread[spread > 1].index.astype(str)))
    sizes = per_case.sort_values(["cases", "process"], ascending=[False, True])
    return {
        "separation": separation,
        "purity": purity,
        "baseline": baseline,
        "cases": {str(p): int(c) for p, c in zip(sizes.process, sizes.cases, strict=True)},
        "shared": shared,
        "missing": missing,
    }


def process_scores(log: EventLog) -> pd.DataFrame:
    """Every candidate process column with its score, best first: column (source name),
    canonical, named, levels, varying, big_values (values with enough cases), separation,
    purity, baseline, eligible, chosen.

    >>> import pandas as pd, flowlens
    >>> df = pd.DataFrame({"case": list("aabb"), "activity": ["x", "y", "x", "y"], "tier": list("ggss"),
    ...                    "timestamp": pd.date_range("2024-01-01", periods=4, freq="h")})
    >>> process_scores(flowlens.read_log(df))[["column", "separation", "eligible"]].values.tolist()
    [['tier', 0.0, False]]
    """
    cands = _candidates(log)
    n_cases = log.n_cases
    need = max(MIN_CASES, int(np.ceil(0.01 * n_cases)))
    rows = []
    for r in cands.itertuples(index=False):
        src = log.attributes.get(r.column, r.column)
        named = _norm(src) in _NAMED or _norm(r.column) in _NAMED
        if r.varying > MAX_VARYING:
            rows.append(
                {
                    "column": src,
                    "canonical": r.column,
                    "named": named,
                    "levels": r.levels,
                    "varying": r.varying,
                }
            )
            continue
        sc = _score(log, r.column)
        big = sum(1 for c in sc["cases"].values() if c >= need)
        rows.append(
            {
                "column": src,
                "canonical": r.column,
                "named": named,
                "levels": r.levels,
                "varying": r.varying,
                "big_values": big,
                "separation": sc["separation"],
                "purity": sc["purity"],
                "baseline": sc["baseline"],
                "_score": sc,
            }
        )
    cols = [
        "column",
        "canonical",
        "named",
        "levels",
        "varying",
        "big_values",
        "separation",
        "purity",
        "baseline",
        "_score",
    ]
    df = pd.DataFrame(rows, columns=cols)
    if df.empty:
        df["eligible"] = pd.Series(dtype=bool)
        df["chosen"] = pd.Series(dtype=bool)
        return df.drop(columns="_score")
    df["big_values"] = df["big_values"].fillna(0).astype(int)
    sep = df["separation"].astype(float).fillna(0.0)
    df["separation"] = sep
    threshold = np.where(df["named"], NAMED_SEPARATION, SEPARATION)
    df["eligible"] = (df["varying"] <= MAX_VARYING) & (df["big_values"] >= 2) & (sep >= threshold)
    df = df.sort_values(
        ["eligible", "named", "separation", "column"], ascending=[False, False, False, True], kind="stable"
    ).reset_index(drop=True)
    df["chosen"] = False
    if bool(df["eligible"].any()):
        df.loc[0, "chosen"] = True
    return df


def detect_processes(log: EventLog, given: str | None = "auto") -> ProcessSplit | None:
    """The process column of ``log`` (None when the log holds one process).

    ``given="auto"`` applies the rule of the module docstring; ``None`` disables the split; a
    column name forces it (it must be constant within cases). The result is memoised per log.
    """
    if given is None:
        return None
    if given != "auto":
        from flowlens.attributes import resolve_column

        col = resolve_column(log, given, what="process column")
        cand = _candidates(log, only=[col])
        if cand.empty:
            raise ConfigError(
                f"process column '{given}' holds {log.table.schema()[col]}, not process names (text)"
            )
        if float(cand.varying.iloc[0]) > MAX_VARYING:
            raise ConfigError(
                f"process column '{given}' changes within {100 * float(cand.varying.iloc[0]):.1f} % of the cases; "
                "a process column has one value per case"
            )
        sc = _score(log, col)
        return ProcessSplit(
            column=col,
            name=log.attributes.get(col, col),
            cases=sc["cases"],
            separation=sc["separation"],
            purity=sc["purity"],
            baseline=sc["baseline"],
            named=_norm(given) in _NAMED,
            shared_activities=sc["shared"],
            missing=sc["missing"],
            reason="given",
        )
    return log.memo("processes:auto", lambda: _auto(log))


def _auto(log: EventLog) -> ProcessSplit | None:
    scores = process_scores(log)
    chosen = scores[scores["chosen"]] if "chosen" in scores else scores.iloc[0:0]
    if chosen.empty:
        return None
    r = chosen.iloc[0]
    sc = r["_score"] if "_score" in r else _score(log, r["canonical"])
    why = (
        M_(
            "named like a process, and the activity tells the process for {share} of instances "
            "(separation {separation} ≥ {bound})",
            share=percent_value(float(r.purity), f"{100 * r.purity:.1f} %"),
            separation=format(r.separation, ".2f"),
            bound=NAMED_SEPARATION,
        )
        if r.named
        else M_(
            "its values split the activities into nearly disjoint sets (separation {separation} ≥ {bound})",
            separation=format(r.separation, ".2f"),
            bound=SEPARATION,
        )
    )
    return ProcessSplit(
        column=str(r.canonical),
        name=str(r.column),
        cases=sc["cases"],
        separation=float(r.separation),
        purity=float(r.purity),
        baseline=float(r.baseline),
        named=bool(r.named),
        shared_activities=sc["shared"],
        missing=sc["missing"],
        reason=why,
    )


def case_processes(log: EventLog, split: ProcessSplit | None) -> pd.DataFrame:
    """Per case (ordered by case_idx): case_idx, case_id and process (:data:`NO_PROCESS` when
    the case has no value; every case is "(all)" without a split)."""
    from flowlens.relational import case_table

    ct = case_table(log.table).select("case_idx", "case_id")
    if split is None:
        df = ct.to_pandas().sort_values("case_idx").reset_index(drop=True)
        df["process"] = "(all)"
        return df
    j = ct.left_join(case_values(log, split.column), "case_idx").drop("case_idx_right")
    df = j.to_pandas().sort_values("case_idx").reset_index(drop=True)
    df["process"] = df["process"].astype(object).where(df["process"].notna(), NO_PROCESS).astype(str)
    return df


def lead_by_process(durations: pd.DataFrame, processes: pd.DataFrame) -> pd.DataFrame:
    """Lead time per process from :func:`flowlens.discovery.cases.case_durations` and
    :func:`case_processes` (same case order): process, cases, share, median_s, mean_s, p90_s;
    the largest process first.

    >>> d = pd.DataFrame({"case_id": ["a", "b", "c"], "lead_time_s": [10.0, 20.0, 30.0]})
    >>> p = pd.DataFrame({"case_id": ["a", "b", "c"], "process": ["x", "x", "y"]})
    >>> lead_by_process(d, p)[["process", "cases", "median_s"]].values.tolist()
    [['x', 2, 15.0], ['y', 1, 30.0]]
    """
    m = durations[["case_id", "lead_time_s"]].merge(
        processes[["case_id", "process"]], on="case_id", how="left"
    )
    m["process"] = m["process"].fillna(NO_PROCESS)
    rows = []
    total = max(len(m), 1)
    for p, g in m.groupby("process", sort=True):
        v = g["lead_time_s"].to_numpy(dtype=float)
        rows.append(
            {
                "process": str(p),
                "cases": int(v.size),
                "share": v.size / total,
                "median_s": float(np.median(v)),
                "mean_s": float(v.mean()),
                "p90_s": float(np.quantile(v, 0.9)),
            }
        )
    out = pd.DataFrame(rows, columns=["process", "cases", "share", "median_s", "mean_s", "p90_s"])
    return out.sort_values(["cases", "process"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def process_log(log: EventLog, split: ProcessSplit, value: str) -> EventLog:
    """The cases of one process (``value`` of the process column; :data:`NO_PROCESS` for the
    cases without one), as a log of their own (memoised per value).

    >>> import pandas as pd, flowlens
    >>> df = pd.DataFrame({"case": list("aabb"), "activity": list("xyzw"), "kind": list("ppqq"),
    ...                    "timestamp": pd.date_range("2024-01-01", periods=4, freq="h")})
    >>> log = flowlens.read_log(df)
    >>> split = detect_processes(log, "kind")
    >>> process_log(log, split, "q").n_cases
    1
    """

    def build() -> EventLog:
        t = log.table
        cv = case_values(log, split.column)
        keep = cv.filter(cv.process.isnull() if value == NO_PROCESS else cv.process == value)
        keys = keep.select(k=keep.case_idx)
        sub = t.semi_join(keys, t.case_idx == keys.k).select(t.columns)
        return log.derive(sub, f"cases of process {split.name} = {value}")

    return log.memo(f"process:{split.column}:{value}", build)


__all__ = [
    "MAX_PROCESSES",
    "NAMED_SEPARATION",
    "NO_PROCESS",
    "PROCESS_NAMES",
    "SEPARATION",
    "ProcessSplit",
    "case_processes",
    "detect_processes",
    "lead_by_process",
    "process_log",
    "process_scores",
]
