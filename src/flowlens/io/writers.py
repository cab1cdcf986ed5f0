"""Writing logs and tables out: CSV, Parquet and XES.

Every CSV flowlens writes is spreadsheet-safe by default: cells that a spreadsheet would run
as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return, and not a plain
number) are written with a leading apostrophe, the OWASP-recommended neutralisation, so an
activity named ``=HYPERLINK(...)`` stays text. An event log meant only for other tools can be
written exactly with ``write_log(..., spreadsheet_safe=False)``; otherwise values that start
with those characters come back with the apostrophe.

>>> import pandas as pd
>>> from flowlens.io.writers import neutralise_formulas
>>> neutralise_formulas(pd.Series(["=1+1", "-3.5", "ok", "@SUM(A1)"])).tolist()
["'=1+1", '-3.5', 'ok', "'@SUM(A1)"]
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO, TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from flowlens.errors import ConfigError
from flowlens.outputs import atomic_path
from flowlens.render.text import xml_text

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.log import EventLog

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(values: pd.Series) -> pd.Series:
    """Prefix an apostrophe to text cells a spreadsheet would evaluate."""
    import pandas as pd

    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values
    text = values.astype("string")
    risky = text.str.startswith(_FORMULA_START, na=False)
    numeric = pd.to_numeric(text.where(risky), errors="coerce").notna()
    out = text.where(~(risky & ~numeric), "'" + text)
    return out.astype(object).where(values.notna(), None)


def write_safe_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as UTF-8 CSV with formula-looking cells neutralised, atomically (a failed
    or killed run leaves ``path`` as it was, :func:`flowlens.outputs.atomic_path`)."""
    import pandas as pd

    safe = frame.copy()
    for col in safe.columns:
        safe[col] = neutralise_formulas(safe[col])
    safe.columns = list(neutralise_formulas(pd.Series([str(c) for c in safe.columns], dtype=object)))
    with atomic_path(path) as tmp:
        safe.to_csv(tmp, index=False)
    return path


def write_quarantine(log: EventLog, path: str | Path) -> Path:
    """Write the rows the gate set aside (:meth:`EventLog.quarantine <flowlens.log.EventLog.quarantine>`)
    as CSV (spreadsheet-safe) and return the path.

    >>> import pandas as pd, flowlens, tempfile, pathlib
    >>> log = flowlens.read_log(pd.DataFrame({"case": ["1", None], "activity": ["a", "b"],
    ...                                       "timestamp": ["2024-01-01", "2024-01-02"]}))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = write_quarantine(log, pathlib.Path(tmp) / "quarantine.csv")
    ...     len(pd.read_csv(out))
    1
    """
    return write_safe_csv(log.quarantine(), Path(path))


def export_frame(log: EventLog) -> pd.DataFrame:
    """The log in the exchange layout: case_id, activity, start_time, end_time, resource,
    then the attributes under their source names."""
    df = log.to_pandas()
    cols = {
        "case_id": "case_id",
        "activity": "activity",
        "start": "start_time",
        "end": "end_time",
        "resource": "resource",
    }
    if log.has_lifecycle:
        cols["status"] = "lifecycle_status"
    out = df[list(cols)].rename(columns=cols)
    for canon, src in log.attributes.items():
        out[src] = df[canon]
    return out


def write_log(
    log: EventLog,
    path: str | Path,
    *,
    format: str | None = None,
    spreadsheet_safe: bool = True,
) -> Path:
    """Write the activity instances as CSV, Parquet or XES (by suffix unless ``format``;
    a ``.gz`` suffix compresses CSV and XES).

    Timestamps are written as ISO 8601 with the log zone's offset (CSV, XES) or as UTC
    timestamps (Parquet), so reading the file back gives the same log. CSV cells that would run
    as spreadsheet formulas are neutralised unless ``spreadsheet_safe=False`` (module notes).
    """
    p = Path(path)
    fmt = format or _format_of(p)
    if fmt not in {"parquet", "csv", "xes"}:
        raise ConfigError(f"cannot write format '{fmt}'; use csv, parquet or xes")
    frame = export_frame(log)
    if fmt == "csv":
        for col in ("start_time", "end_time"):
            frame[col] = frame[col].dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
        if spreadsheet_safe:
            return write_safe_csv(frame, p)
    # written beside p and renamed into place: a failed or killed run leaves p as it was
    with atomic_path(p) as tmp:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        elif fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            opener = gzip.open if p.name.endswith(".gz") else open
            with opener(tmp, "wt", encoding="utf-8") as fh:  # type: ignore[operator]
                _write_xes(frame, fh)
    return p


def _format_of(p: Path) -> str:
    name = p.name.lower().removesuffix(".gz")
    for suffix, fmt in ((".csv", "csv"), (".parquet", "parquet"), (".xes", "xes")):
        if name.endswith(suffix):
            return fmt
    raise ConfigError(f"cannot tell the output format of {p}; use a .csv, .parquet or .xes name")


def _xes_attr(key: str, value: object) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[arg-type]
        return ""
    if isinstance(value, bool):
        tag, text = "boolean", "true" if value else "false"
    elif isinstance(value, int):
        tag, text = "int", str(value)
    elif isinstance(value, float):
        tag, text = "float", repr(value)
    elif isinstance(value, pd.Timestamp):
        tag, text = "date", value.isoformat()
    else:
        tag, text = "string", str(value)
    # XML 1.0 cannot carry NUL, ESC and most control characters: written as visible escapes.
    return f"<{tag} key={quoteattr(xml_text(key))} value={quoteattr(xml_text(text))}/>"


def _write_xes(frame: pd.DataFrame, fh: IO[str]) -> None:
    case_cols = [c for c in frame.columns if c.startswith("case:") and c != "case:concept:name"]
    event_cols = [
        c
        for c in frame.columns
        if c not in {"case_id", "activity", "start_time", "end_time", "resource", "lifecycle_status"}
        and c not in case_cols
        and c not in {"concept:name", "time:timestamp", "org:resource", "lifecycle:transition"}
    ]
    fh.write(
        '<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0" xmlns="http://www.xes-standard.org/">\n'
    )
    for prefix, name in (
        ("concept", "Concept"),
        ("time", "Time"),
        ("org", "Organizational"),
        ("lifecycle", "Lifecycle"),
    ):
        fh.write(
            f'  <extension name="{name}" prefix="{prefix}" uri="http://www.xes-standard.org/{prefix}.xesext"/>\n'
        )
    for case_id, group in frame.groupby("case_id", sort=False):
        fh.write("  <trace>\n    " + _xes_attr("concept:name", str(case_id)) + "\n")
        first = group.iloc[0]
        for c in case_cols:
            attr = _xes_attr(c.removeprefix("case:"), first[c])
            if attr:
                fh.write(f"    {attr}\n")
        for rec in group.itertuples(index=False):
            values = dict(zip(group.columns, rec, strict=True))
            common = [
                _xes_attr("concept:name", values["activity"]),
                _xes_attr("org:resource", values["resource"]),
            ]
            common += [_xes_attr(c, values[c]) for c in event_cols]
            body = "".join(a for a in common if a)
            start = values["start_time"]
            if start is not None and start == start:
                fh.write(
                    f"    <event>{body}{_xes_attr('time:timestamp', start)}"
                    f"{_xes_attr('lifecycle:transition', 'start')}</event>\n"
                )
            status = values.get("lifecycle_status") or "complete"
            fh.write(
                f"    <event>{body}{_xes_attr('time:timestamp', values['end_time'])}"
                f"{_xes_attr('lifecycle:transition', status)}</event>\n"
            )
        fh.write("  </trace>\n")
    fh.write("</log>\n")
