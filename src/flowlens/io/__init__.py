"""Reading event logs: :func:`read_log` for CSV/TSV (also ``.gz``), Parquet, XES and DataFrames."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from flowlens.columns import ColumnMap, detect_roles
from flowlens.engine import CSV_BYTES_PER_THREAD, Limits, check_engine_name, duckdb_engine
from flowlens.errors import InputError
from flowlens.io.source import (
    check_readable,
    detect_format,
    format_from_suffix,
    read_head,
)
from flowlens.source import SourceInfo

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.log import EventLog


def read_log(
    source: str | Path | pd.DataFrame,
    columns: ColumnMap | None = None,
    *,
    tz: str = "UTC",
    engine: str = "duckdb",
    time_format: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    now: str | None = None,
    memory_limit: str | int | None = None,
    threads: int | None = None,
    temp_dir: str | Path | None = None,
    limits: Limits | None = None,
) -> EventLog:
    """Read an event log and pass it through the data-quality gate.

    Parameters
    ----------
    source:
        A path (``.csv``, ``.tsv``, ``.csv.gz``, ``.parquet``, ``.xes``, ``.xes.gz``) or a pandas
        DataFrame. The input is never modified.
    columns:
        Roles to take as given; the others are detected from column names.
    tz:
        IANA zone for timestamps that carry no offset (default UTC). Offsets in the data win.
    engine:
        ``"duckdb"`` (default) or ``"spark"`` (needs ``flowlens[spark]``).
    time_format:
        A strptime pattern, ``iso``, or ``epoch_s``/``epoch_ms``/``epoch_us``, for columns whose
        format cannot be told from the values.
    delimiter, encoding:
        Override CSV detection.
    now:
        ISO timestamp treated as "now" for the future-timestamp flag (default: the clock).
    memory_limit, threads, temp_dir:
        What the engines may use: memory as ``"600MB"``, ``"6GB"`` or ``"50%"`` of the machine's,
        threads, and the folder spill files go to. Not given, the environment variables
        ``FLOWLENS_MEMORY_LIMIT``, ``FLOWLENS_THREADS`` and ``FLOWLENS_TEMP_DIR`` are read, else
        the engine's defaults apply (80 % of memory, every core, the system temp folder).
        ``limits`` passes them as one :class:`~flowlens.engine.Limits` instead.

    Examples
    --------
    >>> import flowlens, pandas as pd
    >>> df = pd.DataFrame({"case_id": [1, 1], "activity": ["open", "close"],
    ...                    "timestamp": ["2024-05-01T09:00:00+08:00", "2024-05-01T09:30:00+08:00"]})
    >>> log = flowlens.read_log(df, tz="Asia/Shanghai")
    >>> log.summary().start
    '2024-05-01T09:00:00.000+08:00'
    >>> flowlens.read_log(df, memory_limit="600MB", threads=1).engine.setting("threads")
    '1'
    """
    if isinstance(source, str | Path):
        # told before the engines are loaded: a missing file answers at once
        check_readable(Path(source))
    import pandas as pd

    from flowlens.io.gate import drop_staging, run_gate
    from flowlens.io.readers import load_csv, load_frame, load_parquet
    from flowlens.log import EventLog
    from flowlens.relational import events_table

    check_engine_name(engine)
    if limits is None:
        limits = Limits.resolve(memory_limit=memory_limit, threads=threads, temp_dir=temp_dir)
    ing = duckdb_engine(limits=limits)
    con = ing.duckdb
    assert con is not None and ing.workdir is not None
    # the thread setting for staging and the gate (Engine.single_thread), restored after the gate
    with contextlib.ExitStack() as thread_setting:
        if isinstance(source, pd.DataFrame):
            info = SourceInfo(path="<DataFrame>", format="dataframe")
            raw = load_frame(con, source)
        elif isinstance(source, str | Path):
            path = Path(source)
            check_readable(path)
            fmt = detect_format(path, read_head(path, 4096))
            info = SourceInfo(path=str(path), format=fmt)
            claimed = format_from_suffix(path)
            if claimed is not None and claimed != fmt:
                info.notes.append(
                    f"read as {fmt.upper()}: the content is {fmt.upper()} although "
                    f"the name suggests {claimed.upper()}"
                )
            if fmt == "csv":
                # a file DuckDB's reader scans on one thread is staged on one (and gated on one,
                # whatever its rows: a second thread would only add its set-up)
                thread_setting.enter_context(ing.single_thread(path.stat().st_size <= CSV_BYTES_PER_THREAD))
                raw = load_csv(con, path, info, workdir=ing.workdir, delimiter=delimiter, encoding=encoding)
            elif fmt == "parquet":
                raw = load_parquet(con, path, info)
            else:
                from flowlens.io.xes import load_xes  # lxml: loaded for XES files only

                raw = load_xes(con, path, info)
        else:
            raise InputError(
                f"cannot read an event log from a {type(source).__name__}; give a path or a DataFrame"
            )

        from flowlens.io.profile import RawProbe
        from flowlens.io.readers import check_duplicate_roles, resolve_duplicate_columns
        from flowlens.io.timestamps import q

        # A log larger than the engine's memory is stored compressed from its staging on, so that
        # the gate's tables are too (methods 4.1). Compression is only ever switched on: a log whose
        # staged rows reach the threshold stays compressed even if fewer rows are kept.
        (n_staged,) = con.execute(f"SELECT count(*) FROM {q(raw.name)}").fetchone()  # type: ignore[misc]
        ing.compress_for(int(n_staged) + raw.n_rejects)
        raw = resolve_duplicate_columns(con, raw, columns, info)
        detected = detect_roles(raw.columns, columns, source=info.path, probe=RawProbe(con, raw))
        mapping = detected.columns
        check_duplicate_roles(raw, detected.how, mapping, info)
        info.roles = dict(detected.how)
        now_us = None
        if now is not None:
            now_us = (
                int(pd.Timestamp(now).tz_localize(tz).value // 1000)
                if pd.Timestamp(now).tzinfo is None
                else int(pd.Timestamp(now).value // 1000)
            )
        thread_setting.enter_context(ing.threads_for(int(n_staged)))
        result = run_gate(
            con, raw, mapping, info, tz=tz, time_format=time_format, now_us=now_us, n_rows=int(n_staged)
        )
    drop_staging(con, raw.name)
    # a log larger than the engine's memory keeps its tables compressed (methods 4.1)
    ing.compress_for(result.quality.rows_kept)
    log = EventLog(
        events_table(ing.backend),
        columns=result.columns,
        timezone=tz,
        source=info,
        quality=result.quality,
        engine=ing,
        ingest=ing,
        attributes=result.attributes,
        has_lifecycle=result.has_lifecycle,
    )
    # known from the gate's last scan: EventLog.has_start_times need not query the table
    log.__dict__["has_start_times"] = result.has_start_times
    log.memo("is_ingested_table", lambda: True)  # its table is events_table(ing.backend) itself
    return log.to_engine(engine) if engine != "duckdb" else log


__all__ = ["read_log"]
