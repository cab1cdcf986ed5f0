"""Reading a per-case table (CSV, Parquet or a DataFrame) and joining its columns to a log.

>>> import pandas as pd, flowlens
>>> log = flowlens.read_log(pd.DataFrame({"case": ["1"], "activity": ["a"], "timestamp": ["2024-01-01"]}))
>>> sorted(add_case_attributes(log, pd.DataFrame({"case": ["1"], "segment": ["vip"]})).attributes)
['segment']
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from flowlens.errors import ConfigError, InputError

if TYPE_CHECKING:
    from flowlens.log import EventLog


def add_case_attributes(
    log: EventLog, cases: pd.DataFrame | str | Path, *, key: str | None = None
) -> EventLog:
    """The log with the columns of a per-case table (e.g. the generator's ``cases.parquet``)
    added to every instance of the matching case, as attributes.

    ``key`` is the case id column of ``cases`` (default: the log's case column name, else
    ``case_id``/``case``). Case ids are compared as text. Columns the log already has are not
    added (the log's own values are kept).

    >>> import pandas as pd, flowlens
    >>> log = flowlens.read_log(pd.DataFrame({"case": ["1", "2"], "activity": ["a", "a"],
    ...                                       "timestamp": ["2024-01-01", "2024-01-02"]}))
    >>> log2 = add_case_attributes(log, pd.DataFrame({"case": ["1", "2"], "segment": ["vip", "mass"]}))
    >>> log2.table.order_by("case_id").segment.to_pandas().tolist()
    ['vip', 'mass']
    """
    import ibis

    from flowlens.log import replace_log

    if not isinstance(cases, pd.DataFrame):
        p = Path(cases)
        if not p.is_file():
            raise InputError(
                f"case table {p} not found", hint="give a CSV or Parquet file with one row per case"
            )
        if p.suffix.lower() in (".parquet", ".pq"):
            cases = pd.read_parquet(p)
        else:
            cases = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
    candidates = [key] if key else [log.columns.case, "case_id", "case", "case:concept:name"]
    k = next((c for c in candidates if c and c in cases.columns), None)
    if k is None:
        raise ConfigError(
            f"the case table has no case id column {candidates[0]!r}; columns: {', '.join(map(str, cases.columns))}",
            hint="name it with key= (--cases-key)",
        )
    if cases[k].duplicated().any():
        raise InputError(f"the case table repeats case ids in column '{k}' (one row per case expected)")
    t = log.table
    taken = set(t.columns) | set(log.attributes.values())
    # Columns the log already has keep the log's values (the case table only adds).
    rename = {str(c): str(c) for c in cases.columns if c != k and str(c) not in taken}
    df = cases[[k, *rename]].rename(columns={k: "__case_key"}).copy()
    df["__case_key"] = df["__case_key"].astype(str)
    if log.pseudonyms is not None:
        # the log's case ids are pseudonyms: match on them (the added columns are judged below)
        df["__case_key"] = log.pseudonyms.series("case_id", df["__case_key"])
    for c in df.columns:
        if isinstance(df[c].dtype, pd.DatetimeTZDtype):
            df[c] = df[c].dt.tz_convert("UTC")
    mt = ibis.memtable(df)
    joined = t.left_join(mt, t.case_id.cast("string") == mt.__case_key).drop("__case_key")
    attrs = {**log.attributes, **{v: v for v in rename.values()}}
    out = replace_log(log, table=joined.select(*t.columns, *rename.values()), attributes=attrs)
    if log.pseudonyms is not None:
        # add no identifier, free text or masked value in clear: the log's own treatment
        from flowlens.pseudonyms import protect_columns

        out = protect_columns(out, list(rename.values()), cases=df)
    return out


def case_table_columns(cases: str | Path) -> list[str]:
    """The column names of a case table file (CSV or Parquet), read from its header only;
    [] when it cannot be read (reading it for real reports the problem).

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "cases.csv"
    ...     _ = p.write_text("case,segment\\n1,vip\\n")
    ...     case_table_columns(p)
    ['case', 'segment']
    """
    p = Path(cases)
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return [str(c) for c in pq.read_schema(p).names]
        return [str(c) for c in pd.read_csv(p, dtype=str, nrows=0).columns]
    except (OSError, ValueError, UnicodeDecodeError):
        return []


__all__ = ["add_case_attributes", "case_table_columns"]
