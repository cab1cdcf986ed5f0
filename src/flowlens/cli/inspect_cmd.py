"""``flowlens inspect LOG``: read a log and show its summary and data-quality counts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from flowlens.cli.options import emit_json, json_option, log_options
from flowlens.cli.progress import Progress
from flowlens.log import EventLog


@click.command()
@log_options
@json_option
@click.option(
    "--quarantine",
    "quarantine_path",
    type=click.Path(path_type=Path),
    help="Also write the quarantined rows to this CSV file.",
)
def inspect(
    read: Callable[[], EventLog], log_path: Path, as_json: bool, quarantine_path: Path | None
) -> None:
    """Read LOG and print its summary and the data-quality counts.

    \b
    Examples:
      flowlens inspect calls.csv.gz --tz Asia/Shanghai
      flowlens inspect incidents.xes.gz --json
      flowlens inspect export.csv --case order_id --end moment
    """
    from flowlens.cli.guard import guard_outputs

    # before reading anything: no output may overwrite an input
    guard_outputs(files=("quarantine_path",))
    progress = Progress(enabled=None if not as_json else False)
    with progress.step(f"reading {log_path}"):
        log = read()
    if quarantine_path is not None:
        from flowlens.io.writers import write_quarantine

        write_quarantine(log, quarantine_path)
    if as_json:
        emit_json(inspect_payload(log))
    else:
        click.echo(log.describe())


def inspect_payload(log: EventLog) -> dict[str, object]:
    """The ``inspect --json`` object: summary, columns, data quality (with the time resolution
    per column) and what the reader detected (``source_info``: formats, notes, and how each
    role was found)."""
    payload: dict[str, object] = log.summary().to_dict()
    payload["columns"] = log.columns.to_dict()
    payload["quality"] = log.quality.to_dict()
    payload["source_info"] = log.source.to_dict()
    return payload
