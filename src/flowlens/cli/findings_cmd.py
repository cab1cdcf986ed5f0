"""``flowlens findings LOG``: redundant steps, found and priced, ranked by customer time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from flowlens.cli.options import (
    TimeOptions,
    allow_option,
    case_table_options,
    emit_json,
    json_option,
    log_options,
    other_work_option,
    seed_option,
    time_options,
)
from flowlens.cli.progress import Progress
from flowlens.log import EventLog


@click.command()
@log_options
@allow_option
@time_options
@click.option(
    "--groups",
    "groups_file",
    type=click.Path(path_type=Path),
    help="JSON or TOML file {group: [activity names]} (verification, approval, control, ...).",
)
@click.option(
    "--top", type=click.IntRange(min=0), default=15, show_default=True, help="Findings to list (text output)."
)
@click.option(
    "--detector",
    "only",
    multiple=True,
    metavar="NAME",
    help="Run only this detector (repeatable; e.g. no_effect_checks, batch_delay); default: all.",
)
@seed_option
@click.option(
    "--resamples",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the customer-time intervals.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(path_type=Path),
    help="Write all findings to this CSV file (one row per finding, formula-safe).",
)
@case_table_options
@other_work_option
@json_option
def findings(
    read: Callable[[], EventLog],
    other_work: Callable[[EventLog], EventLog | None],
    add_cases: Callable[[EventLog], EventLog],
    log_path: Path,
    allow_file: Path | None,
    time_opts: TimeOptions,
    groups_file: Path | None,
    top: int,
    only: tuple[str, ...],
    seed: int,
    resamples: int,
    csv_path: Path | None,
    as_json: bool,
) -> None:
    """Redundant steps in LOG, ranked by the customer time they cost: rework and loops,
    ping-pong, repeated checks and requests, re-entry after a channel switch, no-effect
    approvals, merge candidates, batch delays. Steps a regulation requires (AML, KYC, dual
    recording, ...) are listed apart and never proposed for removal.

    With --json, prints a list of findings (every field, ranked); --csv writes the same as a
    table. --cases joins a per-case table (e.g. risk rating, amount) that detectors use.

    \b
    Examples:
      flowlens findings event_logs/bank_demo/events.parquet --cases event_logs/bank_demo/cases.parquet
      flowlens findings loans.xes.gz --allow allow.toml --top 5
      flowlens findings calls.csv --json > findings.json
      flowlens findings calls.csv --csv findings.csv
    """
    from flowlens.cli.guard import guard_outputs

    # before reading anything: no output may overwrite an input
    guard_outputs(files=("csv_path",))
    from flowlens.analysis.activity_groups import ActivityGroups
    from flowlens.errors import ConfigError
    from flowlens.findings.allowlist import AllowList
    from flowlens.findings.api import find_wastes, load_detectors
    from flowlens.io.writers import write_safe_csv
    from flowlens.units import human_duration

    allow = AllowList.from_file(allow_file) if allow_file else AllowList.default()
    cals = time_opts.calendars()
    groups = ActivityGroups.from_file(groups_file) if groups_file else None
    detectors = None
    if only:
        loaded, _ = load_detectors()
        detectors = [d.fn for d in loaded if d.name in only or d.entry in only]
        unknown = set(only) - {d.name for d in loaded} - {d.entry for d in loaded}
        if unknown:
            names = ", ".join(sorted(d.name for d in loaded))
            raise ConfigError(f"unknown detector {sorted(unknown)[0]!r}; choose from {names}")
    progress = Progress(enabled=False if as_json else None)
    with progress.step(f"reading {log_path}"):
        log = add_cases(read())
    with progress.step("running the detectors"):
        report = find_wastes(
            log,
            allow=allow,
            calendars=cals,
            team=time_opts.team,
            clock_stop=time_opts.stop(),
            seed=seed,
            groups=groups,
            resamples=resamples,
            detectors=detectors,
            other_work=other_work(log),
        )
    if csv_path is not None:
        write_safe_csv(report.to_frame(), csv_path)
    if as_json:
        emit_json([{"rank": r, **f.to_dict()} for r, f in enumerate(report.findings, start=1)])
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
        return
    act, reg = report.actionable, report.regulatory
    total = sum(f.customer_time_s for f in act)
    click.echo(
        f"{len(report.findings):,} findings in {report.cases_total:,} cases: {len(act):,} removable "
        f"({human_duration(total)} of customer time), {len(reg):,} on required steps (kept)"
    )
    for r, f in enumerate(act[:top], start=1):
        lo, hi = f.customer_time_ci
        click.echo(
            f"{r:>3}. {f.title}\n"
            f"     {f.kind}; {f.cases:,} cases; customer time {human_duration(f.customer_time_s)} "
            f"(95 % CI {human_duration(lo)}-{human_duration(hi)}); staff {human_duration(f.staff_time_s)}; "
            f"scenario: {f.scenario.action}\n"
            f"     {f.evidence}"
        )
    if reg:
        click.echo("required steps (make them faster, never remove):")
        for f in reg[:top]:
            click.echo(
                f"  - {f.title}: {f.cases:,} cases, {human_duration(f.customer_time_s)} ({f.allow_reason})"
            )
    for note in report.notes:
        click.echo(f"note: {note}")
    if csv_path is not None:
        click.echo(f"wrote {csv_path}")
