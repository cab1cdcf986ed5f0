"""``flowlens simulate MODEL.json|LOG``: run a simulation model into event logs."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from flowlens.cli.fit_cmd import calendar_option, fit_from_options
from flowlens.cli.options import (
    emit_json,
    jobs_option,
    json_option,
    log_options,
    model_or_log,
    other_work_option,
    seed_option,
    start_column_as,
    worker_count,
)
from flowlens.cli.progress import Progress
from flowlens.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from flowlens.log import EventLog
    from flowlens.simulation.model import SimulationModel

#: Output names that are one file (with one replication); anything else is a folder.
FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
COLUMNS = ["case_id", "activity", "resource", "start_time", "end_time"]


def _is_file(path: Path) -> bool:
    return path.name.lower().endswith(FILE_SUFFIXES) and not path.is_dir()


def checked_time(value: str | None, option: str) -> str | None:
    """``value`` when it reads as a time, else a one-line error naming ``option``."""
    if value is None:
        return None
    import pandas as pd

    try:
        pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{option} '{value}' is not a date or time",
            hint="e.g. 2024-03-01 or 2024-03-01T09:00 (the model's zone unless an offset is given)",
        ) from None
    return value


def iso_times(values: pd.Series) -> pd.Series:
    """Tz-aware times as ISO 8601 text with microseconds and offset, e.g.
    ``2024-03-01T09:00:00.000000+01:00`` (vectorised; missing stay missing)."""
    text = values.dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    return text.str[:-2] + ":" + text.str[-2:]


def sim_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A simulated frame in the output layout: the five columns first, then the attributes."""
    cols = COLUMNS + [c for c in frame.columns if c not in COLUMNS]
    return frame.reindex(columns=cols)


def write_log(frame: pd.DataFrame, path: Path) -> None:
    """Write a simulated log as CSV (times ISO 8601 with offset) or Parquet, by suffix.

    The CSV holds the bytes pandas' ``to_csv`` writes of the frame with :func:`iso_times` start
    and end times, formatted a column at a time in Arrow (:func:`csv_text`); a frame with a
    column that formatting does not cover is written by pandas itself.
    """
    out = sim_table(frame)
    if path.name.lower().endswith(".parquet"):
        out.to_parquet(path, index=False)
        return
    from pandas.io.common import infer_compression

    compression = infer_compression(str(path), "infer")
    chunks = csv_text(out, iso=("start_time", "end_time")) if compression in (None, "gzip") else None
    if chunks is None:
        out = out.assign(start_time=iso_times(out["start_time"]), end_time=iso_times(out["end_time"]))
        out.to_csv(path, index=False)
        return
    import gzip

    # compressed as pandas compresses (gzip, level 9): the same text inside
    with gzip.open(path, "wb") if compression == "gzip" else path.open("wb") as fh:
        for chunk in chunks:
            fh.write(chunk)


#: Rows formatted at a time when writing CSV (bounds the memory the text takes).
CSV_ROWS = 1 << 18


@functools.cache
def _quote_chars() -> str:
    """The characters for which Python's csv module (pandas writes with it: ``QUOTE_MINIMAL``,
    ``lineterminator="\\n"``) quotes a field; asked of the module, the rule changed across
    Python versions."""
    import csv
    import io

    out = ""
    for c in ',"\n\r\t\x00 ;':
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([f"a{c}b", "x"])
        if buf.getvalue().startswith('"'):
            out += c
    return out


def csv_text(frame: pd.DataFrame, iso: Sequence[str] = ()) -> Iterator[bytes] | None:
    """``frame.to_csv(index=False)`` as UTF-8 chunks of at most :data:`CSV_ROWS` rows, the
    columns named in ``iso`` written as :func:`iso_times` writes them; ``None`` when a column
    has a type this does not write exactly as pandas does (the caller then uses pandas).

    Each column becomes Arrow text at once: strings as they are, numbers as numpy writes them
    (pandas' own way), time-zone-aware times from numpy's ISO text plus the offset; a field
    with a character the csv module quotes for is quoted as it quotes it.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": ["x", 'say "hi", then', None], "n": [1.5, float("nan"), 2.0]})
    >>> b"".join(csv_text(df)).decode() == df.to_csv(index=False)
    True
    """
    import pyarrow as pa

    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names) or len(names) < 2:
        return None  # pandas' own rules for these (e.g. a row of one empty field is quoted)
    kinds = [_kind(frame[c], c in iso) for c in frame.columns]
    if any(k is None for k in kinds):
        return None
    header = _quoted(pa.array(names, type=pa.large_string())).to_pylist()

    def chunks() -> Iterator[bytes]:
        import pyarrow.compute as pc

        yield (",".join(header) + "\n").encode("utf-8")
        for lo in range(0, len(frame), CSV_ROWS):
            part = frame.iloc[lo : lo + CSV_ROWS]
            cols = [_quoted(_text(part[c], k)) for c, k in zip(frame.columns, kinds, strict=True)]
            rows = pc.binary_join_element_wise(*cols, pa.scalar(",", pa.large_string()))
            empty, newline = pa.scalar("", pa.large_string()), pa.scalar("\n", pa.large_string())
            rows = pc.binary_join_element_wise(rows, empty, newline)
            yield _body(rows)

    return chunks()


def _kind(col: pd.Series, iso: bool) -> str | None:
    """How :func:`_text` writes a column: ``str``, ``num``, ``iso`` or ``time:UNIT`` (the
    finest unit any of its times needs, as pandas chooses it); ``None``: not covered."""
    import numpy as np
    import pandas as pd

    dt = col.dtype
    if isinstance(dt, pd.StringDtype):
        return "str"
    if isinstance(dt, np.dtype) and dt.kind == "O":
        return "str" if pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty") else None
    if isinstance(dt, np.dtype) and dt.kind in "fiub":
        return "num"
    if not (isinstance(dt, pd.DatetimeTZDtype) and dt.unit == "us") or col.isna().any():
        return None
    local, off = _local(col)
    years = local.astype("datetime64[Y]").astype(np.int64) + 1970
    if len(col) and ((off % 60_000_000).any() or years.min() < 1000 or years.max() > 9999):
        return None  # offsets with seconds, years not of four digits: pandas' own formatting
    if iso:
        return "iso"
    us = local.astype(np.int64) % 1_000_000
    return "time:" + ("us" if (us % 1000).any() else "ms" if us.any() else "s")


def _local(col: pd.Series) -> tuple[Any, Any]:
    """Local wall-clock times (numpy datetime64[us]) and offsets from UTC (int64 µs)."""
    import numpy as np

    local = col.dt.tz_localize(None).to_numpy()
    utc = col.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return local, (local - utc).astype(np.int64)


def _text(col: pd.Series, kind: str) -> Any:
    """A column as Arrow text (missing values empty), as pandas writes it in a CSV."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == "str":
        return pc.fill_null(pa.array(col, type=pa.large_string(), from_pandas=True), "")
    if kind == "num":
        values = col.to_numpy()
        text = values.astype(str)
        if values.dtype.kind == "f":
            text[np.isnan(values)] = ""
        return pa.array(text, type=pa.large_string())
    local, off = _local(col)
    if kind == "iso":
        text = pa.array(np.datetime_as_string(local, unit="us"), type=pa.large_string())
    else:
        text = pa.array(np.datetime_as_string(local, unit=kind.split(":")[1]), type=pa.large_string())
        text = pc.replace_substring(text, "T", " ", max_replacements=1)
    # the offset: +HH:MM (few distinct values, formatted once each)
    uniq, inv = np.unique(off // 60_000_000, return_inverse=True)
    names = [f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}" for m in uniq.tolist()]
    zone = pa.array(names, type=pa.large_string()).take(pa.array(inv.ravel(), type=pa.int64()))
    return pc.binary_join_element_wise(text, zone, pa.scalar("", pa.large_string()))


def _quoted(arr: Any) -> Any:
    """Fields with a character the csv module quotes for, quoted as it quotes them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chars = _quote_chars()
    if not chars or not len(arr):
        return arr
    need = pc.match_substring_regex(arr, "[" + "".join(f"\\x{ord(c):02x}" for c in chars) + "]")
    if not pc.any(need).as_py():
        return arr
    mark = pa.scalar('"', pa.large_string())
    q = pc.binary_join_element_wise(
        mark, pc.replace_substring(arr, '"', '""'), mark, pa.scalar("", pa.large_string())
    )
    return pc.if_else(need, q, arr)


def _body(rows: Any) -> bytes:
    """The text of a large_string array's values, one after the other."""
    import numpy as np

    if not len(rows):
        return b""
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset : rows.offset + len(rows) + 1]
    return rows.buffers()[2].to_pybytes()[int(offsets[0]) : int(offsets[-1])]


def _replica(model: SimulationModel, i: int, seed: int, kwargs: dict[str, Any], path: str) -> dict[str, Any]:
    """Simulate replica ``i`` (seed ``seed + i``) and write it to ``path`` (a file in the staging
    folder or the temporary file of an atomic write)."""
    from flowlens.simulation.engine import simulate

    t0 = time.perf_counter()
    frame = simulate(model, seed=seed + i, **kwargs)
    sim_s = time.perf_counter() - t0
    write_log(frame, Path(path))
    return {
        "replica": i,
        "seed": seed + i,
        "cases": int(frame["case_id"].nunique()),
        "events": len(frame),
        "simulate_s": sim_s,
        "write_s": time.perf_counter() - t0 - sim_s,
    }


def run_replicas(
    model: SimulationModel, seed: int, kwargs: dict[str, Any], paths: list[Path], jobs: int
) -> list[dict[str, Any]]:
    """Replica i into ``paths[i]`` with seed ``seed + i``; in ``jobs`` processes when
    there are several (the result does not depend on ``jobs``)."""
    from flowlens.simulation.processes import run_in_processes

    return run_in_processes(_replica, [(model, i, seed, kwargs, str(p)) for i, p in enumerate(paths)], jobs)


@click.command()
@log_options
@click.option("--cases", type=int, help="Simulate this many cases (or give --until).")
@click.option("--until", metavar="TIME", help="Simulate the cases that arrive before TIME.")
@click.option(
    "--start",
    "start_time",
    metavar="TIME",
    help="When the first case arrives (the model's zone unless an offset is given); default: "
    "where the fitted log ended.",
)
@seed_option(default=1)
@click.option(
    "--replications",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Independent simulated logs; replica i uses seed SEED+i.",
)
@click.option(
    "--warmup-cases",
    type=click.IntRange(min=0),
    default=None,
    help="Cases that arrive before --start to fill the queues; they are not written "
    "[default: the fitted log's mean number of open cases].",
)
@click.option(
    "-o",
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    help="OUT.csv or OUT.parquet (one replication), or a folder: DIR/sim_0.csv ... sim_{K-1}.csv.",
)
@jobs_option("running replications")
@calendar_option
@other_work_option
@json_option
@model_or_log
def simulate(
    read: Callable[[], EventLog],
    other_work: Callable[[EventLog], EventLog | None],
    log_path: Path,
    cases: int | None,
    until: str | None,
    start_time: str | None,
    seed: int,
    replications: int,
    warmup_cases: int | None,
    out_path: Path,
    jobs: int | None,
    calendar_file: Path | None,
    as_json: bool,
) -> None:
    """Simulate a model (MODEL.json, written by flowlens fit) or a LOG (fitted first) into
    event logs with the log's columns, which every flowlens command reads.

    \b
    Examples:
      flowlens simulate model.json --cases 1000 --start 2024-03-04T08:00 -o sim.csv
      flowlens simulate model.json --until 2024-06-30 --replications 10 --seed 7 -o sims/
      flowlens simulate loans.csv --cases 5000 -o sim.parquet --json
    """
    from flowlens.cli.guard import guard_outputs

    if (cases is None) == (until is None):
        raise ConfigError("give either --cases N or --until TIME")
    if cases is not None and cases < 1:
        raise ConfigError(f"--cases must be at least 1, got {cases}")
    as_file = _is_file(out_path)
    if as_file and replications > 1:
        raise ConfigError(
            f"-o {out_path} names one file, but --replications {replications} writes {replications} logs",
            hint="give a folder (-o sims/): it gets sim_0.csv ... sim_{K-1}.csv",
        )
    names = [f"sim_{i}.csv" for i in range(replications)]
    # before reading anything: no output may overwrite an input
    if as_file:
        guard_outputs(files=("out_path",))
    else:
        guard_outputs(folder="out_path", folder_files=[*names, "tool_report.json"])
    kwargs = {
        "cases": cases,
        "until": checked_time(until, "--until"),
        "start": checked_time(start_time, "--start"),
        "warmup_cases": warmup_cases,
    }
    progress = Progress(enabled=False if as_json else None)
    t_fit = time.perf_counter()
    if log_path.name.lower().endswith(".json"):
        from flowlens.simulation.model import SimulationModel

        model = SimulationModel.load(log_path)
    else:
        model = fit_from_options(read, other_work, calendar_file, log_path, progress)
    fit_s = time.perf_counter() - t_fit
    n_jobs = worker_count(jobs)
    what = f"{cases:,} cases" if cases is not None else f"the cases arriving before {until}"
    label = f"simulating {what}" + (f" × {replications} replications" if replications > 1 else "")
    t0 = time.perf_counter()
    if as_file:
        from flowlens.outputs import atomic_path

        with atomic_path(out_path) as tmp, progress.step(label):
            runs = run_replicas(model, seed, kwargs, [tmp], 1)
        files = [str(out_path)]
    else:
        import json

        from flowlens.outputs import output_folder, write_text

        with output_folder(out_path, kind="simulation", last=("tool_report.json",)) as out:
            with progress.step(label):
                runs = run_replicas(model, seed, kwargs, [out.path / n for n in names], n_jobs)
            wall = time.perf_counter() - t0
            report = _report(model, log_path, kwargs, seed, runs, wall, fit_s, n_jobs)
            write_text(out.path / "tool_report.json", json.dumps(report, indent=1) + "\n")
        files = [str(out_path / n) for n in names]
    wall = time.perf_counter() - t0
    report = _report(model, log_path, kwargs, seed, runs, wall, fit_s, n_jobs)
    if as_json:
        emit_json({"out": str(out_path), "files": files, **report})
        return
    events = sum(r["events"] for r in runs)
    click.echo(
        f"simulated {sum(r['cases'] for r in runs):,} cases, {events:,} activity instances in "
        f"{wall:.1f} s ({replications} replication{'s' if replications > 1 else ''}, seed {seed}"
        f"{'…' + str(seed + replications - 1) if replications > 1 else ''})"
    )
    click.echo(
        f"wrote       {out_path}"
        + (f" ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})" if not as_file else "")
    )


def _report(
    model: SimulationModel,
    source: Path,
    kwargs: dict[str, Any],
    seed: int,
    runs: list[dict[str, Any]],
    wall: float,
    fit_s: float,
    jobs: int,
) -> dict[str, Any]:
    """The run's facts (``tool_report.json``; the referee protocol copies it into its result)."""
    sim_s = sum(r["simulate_s"] for r in runs)
    events = sum(r["events"] for r in runs)
    return {
        "tool": "flowlens",
        "source": str(source),
        "model": model.name,
        "seed": seed,
        "replications": len(runs),
        "jobs": jobs,
        "options": {k: v for k, v in kwargs.items() if v is not None},
        "runs": runs,
        "fit_s": fit_s if not str(source).lower().endswith(".json") else None,
        "wall_s": wall,
        "simulate_cpu_s": sim_s,
        "events_per_simulate_s": events / sim_s if sim_s > 0 else None,
    }


# The argument is a model file or a log: say so in the usage line. --start is the first
# arrival here, so the log's start-time column option is --start-column.
for _p in simulate.params:
    if _p.name == "log_path":
        _p.metavar = "MODEL.json|LOG"
start_column_as(simulate)
