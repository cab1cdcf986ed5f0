"""``flowlens map LOG``: draw the process map (SVG, PNG, PDF or DOT) or print it as JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from flowlens.cli.options import emit_json, json_option, log_options
from flowlens.cli.progress import Progress
from flowlens.log import EventLog


@click.command(name="map")
@log_options
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    help="Write the drawing here: .svg, .png, .pdf or .dot.",
)
@click.option(
    "--view",
    type=click.Choice(["frequency", "time"]),
    default="frequency",
    show_default=True,
    help="Label, colour and width by counts, or by waiting and processing times.",
)
@click.option(
    "--activities",
    "activity_coverage",
    type=click.FloatRange(0, 1, min_open=True),
    default=1.0,
    show_default=True,
    help="Show the most frequent activities covering this share of instances.",
)
@click.option("--max-activities", type=click.IntRange(min=1), help="Show at most this many activities.")
@click.option(
    "--paths",
    "path_coverage",
    type=click.FloatRange(0, 1, min_open=True),
    default=1.0,
    show_default=True,
    help="Show the most important paths covering this share.",
)
@click.option(
    "--path-measure",
    type=click.Choice(["frequency", "time"]),
    default="frequency",
    show_default=True,
    help="Rank paths by how often they are taken, or by the total waiting on them.",
)
@json_option
def map_(
    read: Callable[[], EventLog],
    log_path: Path,
    out_path: Path | None,
    view: str,
    activity_coverage: float,
    max_activities: int | None,
    path_coverage: float,
    path_measure: str,
    as_json: bool,
) -> None:
    """Draw LOG's process map, or print its nodes and edges with counts and times (--json).

    \b
    Examples:
      flowlens map loans.xes.gz -o map.svg --activities 0.9 --paths 0.8
      flowlens map loans.xes.gz -o map.png --view time --path-measure time
      flowlens map calls.csv --json --where segment=VIP
    """
    from flowlens.cli.guard import guard_outputs

    # before reading anything: no output may overwrite an input
    guard_outputs(files=("out_path",))
    from flowlens.discovery.abstraction import process_map
    from flowlens.report.process_map import save_map

    if out_path is None and not as_json:
        raise click.UsageError("give -o FILE for the drawing, or --json for the numbers")
    progress = Progress(enabled=False if as_json else None)
    with progress.step(f"reading {log_path}"):
        log = read()
    with progress.step("building the map"):
        graph = process_map(
            log,
            activity_coverage=activity_coverage,
            max_activities=max_activities,
            path_coverage=path_coverage,
            path_measure=path_measure,
        )
    if out_path is not None:
        with progress.step(f"drawing {out_path}"):
            save_map(graph, out_path, view=view)
    if as_json:
        emit_json(map_payload(log, graph, out_path))
    elif out_path is not None:
        click.echo(
            f"map        {out_path} ({len(graph.nodes)} of {graph.total_activities} activities, "
            f"{len(graph.edges)} of {graph.total_edges} paths)"
        )


def map_payload(log: EventLog, graph, out_path: Path | None) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from flowlens.report.sections import records

    return {
        "source": log.source.path,
        "filters": list(log.filters),
        "timezone": log.timezone,
        "output": str(out_path) if out_path else None,
        "shown_activities": len(graph.nodes),
        "total_activities": graph.total_activities,
        "activity_share": graph.activity_share,
        "shown_edges": len(graph.edges),
        "total_edges": graph.total_edges,
        "nodes": records(graph.nodes),
        "edges": records(graph.edges),
        "start_activities": records(graph.start_activities),
        "end_activities": records(graph.end_activities),
    }
