"""``flowlens analyze LOG -o DIR``: the report, its numbers and the quarantine, in one folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from flowlens.cli.options import emit_json, json_option, log_options
from flowlens.cli.progress import Progress
from flowlens.log import EventLog


@click.command()
@log_options
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for report.html, results.json and quarantine.csv.",
)
@click.option("--title", help="Report title (default: from the file name).")
@click.option(
    "--top-variants",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Variants listed in the report.",
)
@json_option
def analyze(
    read: Callable[[], EventLog],
    log_path: Path,
    out_dir: Path,
    title: str | None,
    top_variants: int,
    as_json: bool,
) -> None:
    """Analyse LOG and write DIR/report.html, DIR/results.json and DIR/quarantine.csv.

    The report is one self-contained HTML file that opens offline. The same numbers are in
    results.json; rows the data-quality gate set aside are in quarantine.csv.

    \b
    Example:
      flowlens analyze event_logs/bank_demo/events.parquet -o reports/bank_demo
    """
    from flowlens.report.build import build_report

    progress = Progress(enabled=False if as_json else None)
    with progress.step(f"reading {log_path}"):
        log = read()
    with progress.step("analysing"):
        report = build_report(log, title=title, top_variants=top_variants)
    with progress.step("writing report"):
        paths = report.write(out_dir)
        paths["quarantine"] = log.write_quarantine(out_dir / "quarantine.csv")
    if as_json:
        emit_json(
            {
                "outputs": {k: str(v) for k, v in paths.items()},
                "summary": log.summary().to_dict(),
                "quality": log.quality.to_dict(),
            }
        )
    else:
        for name, p in paths.items():
            click.echo(f"{name:10s} {p}")
