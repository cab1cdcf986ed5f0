"""``flowlens waiting LOG``: why cases wait, split by cause, per activity, transition or resource."""

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
    type=click.Choice(["activity", "transition", "resource", "handoff"]),
    default="activity",
    show_default=True,
    help="Group waiting by destination activity, transition, resource, or handoff.",
)
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True, help="Rows to show.")
@time_options
@other_work_option
@json_option
def waiting(
    read: Callable[[], EventLog],
    other_work: Callable[[EventLog], EventLog | None],
    log_path: Path,
    level: str,
    top: int,
    time_opts: TimeOptions,
    as_json: bool,
) -> None:
    """Split all waiting in LOG into batching, contention, prioritisation, unavailability and
    extraneous causes, with the cycle-time efficiency each would give if removed.

    \b
    Examples:
      flowlens waiting loans.xes.gz
      flowlens waiting calls.csv --level resource --calendar shifts.toml --json
    """
    from flowlens.analysis.waiting import CAUSES, waiting_causes
    from flowlens.timing.model import time_model
    from flowlens.units import human_duration

    cals = time_opts.calendars()
    progress = Progress(enabled=False if as_json else None)
    with progress.step(f"reading {log_path}"):
        log = read()
    with progress.step("time model"):
        tm = time_model(log, calendars=cals, team=time_opts.team, clock_stop=time_opts.stop())
    with progress.step("waiting causes"):
        analysis = waiting_causes(tm, calendars=cals, other_work=other_work(log))
        overall = analysis.overall()
        table = analysis.by(level)
    if as_json:
        rows = table.head(top).reset_index()
        emit_json(
            {
                "source": log.source.path,
                "filters": list(log.filters),
                "level": level,
                "overall": overall,
                "groups": rows.to_dict("records"),
                "batches": analysis.batches.head(50).to_dict("records"),
            }
        )
        return
    total = overall["waiting_s"]
    click.echo(
        f"waiting in all: {human_duration(total)} over {overall['waiting_instances']:,} waiting steps"
        + (" (start times estimated)" if tm.starts_estimated else "")
    )
    for c in CAUSES:
        click.echo(
            f"  {c:15s} {human_duration(overall['by_cause_s'][c]):>10}  "
            f"{100 * overall['by_cause_share'][c]:5.1f} %   CTE if removed: "
            f"{_pct(overall['cte_without'][c])} (now {_pct(overall['cycle_time_efficiency'])})"
        )
    click.echo("")
    for key, r in table.head(top).iterrows():
        name = " → ".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
        click.echo(
            f"{name[:60]:60s} {human_duration(r.wait_s):>10} {100 * r.share_of_all_waiting:5.1f} % "
            f"mostly {r.dominant_cause} ({100 * r[f'{r.dominant_cause}_share']:.0f} %)"
        )


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"
