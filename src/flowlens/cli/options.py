"""Options shared by commands: column mapping, reading, engine, output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from flowlens.log import EventLog

F = Callable[..., Any]


def log_options(func: F) -> F:
    """LOG argument plus mapping and reading options; the command receives ``read``, a
    callable that returns the :class:`EventLog`."""
    options = [
        click.argument("log_path", metavar="LOG", type=click.Path(path_type=Path)),
        click.option("--case", "case_col", metavar="COLUMN", help="Column holding the case id."),
        click.option(
            "--activity",
            "activity_col",
            metavar="COLUMN[+COLUMN]",
            help="Column holding the activity; join several with + (e.g. concept:name+lifecycle:transition).",
        ),
        click.option("--start", "start_col", metavar="COLUMN", help="Column holding start times."),
        click.option("--end", "end_col", metavar="COLUMN", help="Column holding end (completion) times."),
        click.option("--resource", "resource_col", metavar="COLUMN", help="Column holding the resource."),
        click.option(
            "--lifecycle", "lifecycle_col", metavar="COLUMN", help="Column holding lifecycle transitions."
        ),
        click.option(
            "--mapping",
            "mapping_file",
            type=click.Path(path_type=Path),
            help="JSON or TOML file with the roles above.",
        ),
        click.option(
            "--tz", default="UTC", show_default=True, help="Time zone of timestamps without an offset."
        ),
        click.option("--time-format", help="strptime pattern, iso, or epoch_s/epoch_ms/epoch_us."),
        click.option("--delimiter", help="CSV delimiter (detected by default)."),
        click.option("--encoding", help="Text encoding (detected by default; e.g. gb18030)."),
        click.option(
            "--engine",
            type=click.Choice(["duckdb", "spark"]),
            default="duckdb",
            show_default=True,
            help="Engine for the analyses (spark needs flowlens[spark]).",
        ),
    ]

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        keys = (
            "log_path",
            "case_col",
            "activity_col",
            "start_col",
            "end_col",
            "resource_col",
            "lifecycle_col",
            "mapping_file",
            "tz",
            "time_format",
            "delimiter",
            "encoding",
            "engine",
        )
        args = {k: kwargs.pop(k) for k in keys}
        kwargs["read"] = functools.partial(read_from_options, **args)
        kwargs["log_path"] = args["log_path"]
        return func(**kwargs)

    for opt in reversed(options):
        wrapper = opt(wrapper)
    return wrapper


def read_from_options(
    *,
    log_path: Path,
    case_col: str | None,
    activity_col: str | None,
    start_col: str | None,
    end_col: str | None,
    resource_col: str | None,
    lifecycle_col: str | None,
    mapping_file: Path | None,
    tz: str,
    time_format: str | None,
    delimiter: str | None,
    encoding: str | None,
    engine: str,
) -> EventLog:
    from flowlens.columns import ColumnMap
    from flowlens.io import read_log

    base = ColumnMap.from_file(mapping_file) if mapping_file else ColumnMap()
    explicit = base.merged(
        ColumnMap(
            case=case_col,
            activity=activity_col,
            start=start_col,
            end=end_col,
            resource=resource_col,
            lifecycle=lifecycle_col,
        )
    )
    return read_log(
        log_path,
        explicit,
        tz=tz,
        engine=engine,
        time_format=time_format,
        delimiter=delimiter,
        encoding=encoding,
    )


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(func)


def emit_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (the only thing --json prints there)."""
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=_default) + "\n")


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
