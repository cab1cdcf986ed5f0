"""``flowlens optimize LOG``: candidate changes simulated and ranked by customer time saved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from flowlens.cli.fit_cmd import calendar_option, load_calendars
from flowlens.cli.options import (
    allow_option,
    emit_json,
    jobs_option,
    json_option,
    log_options,
    other_work_option,
    seed_option,
    start_column_as,
    worker_count,
)
from flowlens.cli.progress import Progress

if TYPE_CHECKING:
    from flowlens.log import EventLog


@click.command()
@log_options
@click.option(
    "--cases", type=click.IntRange(min=10), help="Cases per replication [default: the log's, at most 2,000]."
)
@click.option(
    "--start", "start_time", metavar="TIME", help="When the simulated period starts [default: the log's end]."
)
@click.option(
    "--replications",
    type=click.IntRange(min=2),
    default=10,
    show_default=True,
    help="Paired replications per round.",
)
@jobs_option("running replications")
@allow_option
@calendar_option
@other_work_option
@seed_option
@json_option
def optimize(
    read: Callable[[], EventLog],
    other_work: Callable[[EventLog], EventLog | None],
    log_path: Path,
    cases: int | None,
    start_time: str | None,
    replications: int,
    allow_file: Path | None,
    jobs: int | None,
    calendar_file: Path | None,
    seed: int,
    as_json: bool,
) -> None:
    """Which changes would save customers the most time: the findings' remedies and the
    model's own candidates (a person more in the busiest pool, unbatching, longer hours,
    halving the waits on others) simulated in paired replications on bootstrap-refitted models,
    ranked by lead time saved with 95 % CIs, then their best combinations. Steps a regulation
    requires (--allow) are never removed or automated.

    \b
    Examples:
      flowlens optimize loans.csv
      flowlens optimize loans.csv --allow allow.toml --replications 20 --json
    """
    from flowlens.cli.simulate_cmd import checked_time
    from flowlens.findings.allowlist import AllowList
    from flowlens.findings.api import find_wastes
    from flowlens.simulation.fit import build, observe
    from flowlens.simulation.optimize import optimize as run

    start_time = checked_time(start_time, "--start")
    allow = AllowList.from_file(allow_file) if allow_file else AllowList.default()
    progress = Progress(enabled=False if as_json else None)
    n_jobs = worker_count(jobs)
    cals = load_calendars(calendar_file)
    with progress.step(f"reading {log_path}"):
        log = read()
    with progress.step("finding redundant steps"):
        findings = find_wastes(log, allow=allow, calendars=cals, seed=seed).findings
    with progress.step(f"fitting a simulation model to {log.n_cases:,} cases"):
        obs = observe(log, calendars=cals, other_work=other_work(log))
        model = build(obs)
    with progress.step("simulating the candidates and their combinations"):
        res = run(
            model,
            findings=findings,
            observations=obs,
            allow=allow,
            cases=cases,
            start=start_time,
            seed=seed,
            replications=replications,
            jobs=n_jobs,
        )
    out = res.to_dict()
    if as_json:
        emit_json(out)
        return
    _echo(out)


def _echo(out: dict[str, Any]) -> None:
    from flowlens.render.text import visible

    b = out["baseline"]
    click.echo(
        f"baseline: lead time mean {b['lead_time_mean_h']:.1f} h, median {b['lead_time_median_h']:.1f} h "
        f"({out['replications']} paired replications)"
    )
    click.echo("changes, by customer time saved:")
    for r in out["ranked"]:
        lo, hi = r["saving_ci95_h"]
        flag = "" if r["significant"] else "  (not significant)"
        if r.get("screened_out"):
            # its interval is the fitted model's alone: not significant even before the refits
            flag = "  (not significant on the fitted model: not refitted)"
        if r.get("trusted") is False:
            flag += "  NOT trusted: " + "; ".join(visible(q["reason"]) for q in r.get("queue_concerns") or [])
        click.echo(
            f"  {r['saving_mean_h']:+7.2f} h ({r['saving_pct']:+5.1f} %, CI {lo:+.2f} to {hi:+.2f})  "
            f"staff {r['staff_hours_delta']:+,.0f} h  {visible(r['name'])[:90]}{flag}"
        )
    if out["combinations"]:
        click.echo("combinations:")
        for r in out["combinations"]:
            lo, hi = r["saving_ci95_h"]
            click.echo(
                f"  {r['saving_mean_h']:+7.2f} h (CI {lo:+.2f} to {hi:+.2f})  {visible(r['name'])[:120]}"
            )
    for s in out["skipped"]:
        click.echo(f"  not simulated: {visible(s['candidate'])[:80]}: {visible(s['why'])}")


# --start is when the simulated period begins; the log's start-time column is --start-column
start_column_as(optimize)
