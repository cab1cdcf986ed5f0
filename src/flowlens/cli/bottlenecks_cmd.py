"""``flowlens bottlenecks LOG``: where customers wait, ranked by the total waiting caused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from flowlens.cli.options import (
    TimeOptions,
    emit_json,
    json_option,
    log_options,
    other_work_option,
    time_options,
)
from flowlens.cli.progress import Progress
from flowlens.log import EventLog


@click.command()
@log_options
@click.option(
    "--level",
    type=click.Choice(["activity", "transition", "resource", "team"]),
    default="activity",
    show_default=True,
    help="Rank activities, transitions (what a step waited after), resources or teams.",
)
@click.option(
    "--top", type=click.IntRange(min=1), default=10, show_default=True, help="How many groups to list."
)
@time_options
@other_work_option
@json_option
def bottlenecks(
    read: Callable[[], EventLog],
    other_work: Callable[[EventLog], EventLog | None],
    log_path: Path,
    level: str,
    top: int,
    time_opts: TimeOptions,
    as_json: bool,
) -> None:
    """Rank where customers wait in LOG: total waiting per activity, transition, resource or
    team (frequency x mean, not the mean alone), with median and p90 waiting, processing time,
    share of all waiting and, for resources and teams, utilisation.

    \b
    Examples:
      flowlens bottlenecks calls.csv.gz
      flowlens bottlenecks events.parquet --level team --calendar bank.toml --top 5
      flowlens bottlenecks loans.csv --level transition --json
    """
    from flowlens.analysis.bottlenecks import bottleneck_report
    from flowlens.timing.model import time_model
    from flowlens.units import human_duration

    progress = Progress(enabled=False if as_json else None)
    calendars = time_opts.calendars()
    with progress.step(f"reading {log_path}"):
        log = read()
    with progress.step("building the time model"):
        tm = time_model(log, calendars=calendars, team=time_opts.team, clock_stop=time_opts.stop())
    with progress.step("ranking bottlenecks"):
        levels = ["activity", "transition"]
        if level not in levels:
            levels.append(level)
        from flowlens.analysis.other_work import other_work_intervals

        other = other_work(log)
        busy_elsewhere = other_work_intervals(other, calendars) if other is not None else None
        rep = bottleneck_report(tm, levels=levels, top=top, other_work=busy_elsewhere)
    table = rep.levels[level]
    shown = table.head(top)
    util = rep.utilisation_summary(level) if level in ("resource", "team") else None
    if as_json:
        data = rep.to_dict()
        emit_json(
            {
                "source": log.source.path,
                "filters": list(log.filters),
                "level": level,
                "groups": len(table),
                "total_waiting_s": data["total_waiting_s"],
                "total_waiting_business_s": data["total_waiting_business_s"],
                "starts_estimated": data["starts_estimated"],
                "estimated_instances": data["estimated_instances"],
                "calendars": data["calendars"],
                "business_time": data["business_time"],
                "top": data["levels"][level],
                **({"utilisation": data["utilisation"][level]} if util is not None else {}),
                "utilisation_period": data["utilisation_period"],
                "littles_law": data["littles_law"],
                "sentences": data["sentences"],
            }
        )
        return
    note = " (start times estimated)" if rep.starts_estimated else ""
    click.echo(
        f"Waiting by {level}: top {len(shown)} of {len(table):,}; all waiting "
        f"{human_duration(rep.total_waiting_s)} calendar time"
        + (f", {human_duration(rep.total_waiting_business_s)} working time" if rep.business_time else "")
        + note
    )
    rho = {}
    if util is not None and len(util):
        rho = dict(zip(util[level], util.utilisation, strict=True))
    header = (
        f"{'#':>3}  {'waiting':>8} {'share':>7} {'instances':>9} {'cases':>8} {'median':>8} "
        f"{'p90':>8} {'proc med':>8}" + (f" {'util':>6}" if util is not None else "") + f"  {level}"
    )
    click.echo(header)
    for r in shown.to_dict("records"):
        u = rho.get(r[level]) if util is not None and level in r else None
        util_txt = ""
        if util is not None:
            util_txt = f" {100 * u:5.1f}%" if u is not None and u == u else f" {'–':>6}"
        label = r["label"] if len(r["label"]) <= 80 else r["label"][:79] + "…"
        click.echo(
            f"{r['rank']:>3}  {human_duration(r['waiting_total_s']):>8} {100 * r['waiting_share']:6.1f}% "
            f"{r['instances']:>9,} {r['cases']:>8,} {human_duration(r['waiting_median_s']):>8} "
            f"{human_duration(r['waiting_p90_s']):>8} {human_duration(r['processing_median_s']):>8}"
            f"{util_txt}  {label}"
        )
    click.echo("")
    for s in rep.sentences:
        click.echo(s)
