"""``flowlens journeys LOG``: the customer's view — issues, contacts, channel switches, FCR."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from flowlens.cli.options import bootstrap_options, case_table_options, emit_json, json_option, log_options
from flowlens.cli.progress import Progress
from flowlens.cli.segments_cmd import comparison_lines
from flowlens.log import EventLog


def _role(value: str | None) -> str | None:
    """Option value -> journeys() argument: default 'auto', 'none' disables the role."""
    if value is None:
        return "auto"
    return None if value.strip().lower() in ("none", "-") else value


@click.command()
@log_options
@click.option(
    "--customer", metavar="COLUMN", help="Customer id column (default: detected; 'none' to ignore)."
)
@click.option("--channel", metavar="COLUMN", help="Channel column (default: detected; 'none' to ignore).")
@click.option(
    "--reason", metavar="COLUMN", help="Reason/intent column: only cases with the same reason form an issue."
)
@click.option("--contact", metavar="COLUMN", help="Contact id column (call, chat, visit); default: detected.")
@click.option(
    "--window",
    default="7d",
    show_default=True,
    metavar="DURATION",
    help="A case joins a customer's issue when it starts within this time of the issue's last activity.",
)
@click.option(
    "--groups",
    "groups_file",
    type=click.Path(path_type=Path),
    help="JSON or TOML file {group: [activity names]} (verification, transfer, abandonment, ...).",
)
@click.option(
    "--by",
    "by",
    metavar="COLUMN",
    help="Also compare FCR, contacts and lead time per value of this case attribute.",
)
@click.option(
    "--top", type=click.IntRange(min=0), default=10, show_default=True, help="Longest issues to list."
)
@click.option(
    "--csv", "csv_path", type=click.Path(path_type=Path), help="Write the per-issue table to this CSV file."
)
@bootstrap_options
@case_table_options
@json_option
def journeys(
    read: Callable[[], EventLog],
    add_cases: Callable[[EventLog], EventLog],
    log_path: Path,
    customer: str | None,
    channel: str | None,
    reason: str | None,
    contact: str | None,
    window: str,
    groups_file: Path | None,
    by: str | None,
    top: int,
    csv_path: Path | None,
    seed: int,
    resamples: int,
    as_json: bool,
) -> None:
    """The customer's view of LOG: cases of one customer linked into issues by a time window,
    with contacts per issue, channel switches, transfers, repeated identity checks and
    information requests, abandonment and first-contact resolution (FCR).

    \b
    Examples:
      flowlens journeys calls.csv.gz --customer customer_id
      flowlens journeys events.parquet --cases cases.parquet --window 7d --by segment
      flowlens journeys events.parquet --groups groups.toml --json
    """
    from flowlens.cli.guard import guard_outputs

    # before reading anything: no output may overwrite an input
    guard_outputs(files=("csv_path",))
    from flowlens.analysis.journeys import customer_key, headline
    from flowlens.analysis.journeys import journeys as compute
    from flowlens.analysis.segments import ISSUE_METRICS, compare, issue_units, segment_labels
    from flowlens.errors import ConfigError
    from flowlens.io.writers import write_safe_csv
    from flowlens.units import human_duration, percent

    progress = Progress(enabled=False if as_json else None)
    with progress.step(f"reading {log_path}"):
        log = add_cases(read())
    if _role(customer) == "auto":
        key = customer_key(log)
        if key.column is not None and not key.persons:
            # a key that chains an organisation's cases would give years-long "issues"
            raise ConfigError(
                f"journeys left out: {key.reason} (or --customer none: each case its own issue)"
            )
    with progress.step("linking cases into issues"):
        res = compute(
            log,
            customer=_role(customer),
            channel=_role(channel),
            reason=_role(reason),
            contact=_role(contact),
            window=window,
            groups=groups_file,
            attributes=[by] if by else (),
        )
    comparison = None
    if by:
        with progress.step(f"comparing by {by} ({resamples} resamples)"):
            units = issue_units(res)
            comparison = compare(
                units, by, ISSUE_METRICS, seed=seed, resamples=resamples, labels=segment_labels(units[by])
            )
    if csv_path is not None:
        write_safe_csv(res.issues, csv_path)
    s = res.summary
    if as_json:
        out = {"source": log.source.path, "filters": list(log.filters), **res.to_dict(issues=top)}
        out["headline"] = headline(s, res.window_s)
        if comparison is not None:
            t = comparison.astype(object).where(comparison.notna(), None)
            out["by"] = {"column": by, "seed": seed, "resamples": resamples, "rows": t.to_dict("records")}
        emit_json(out)
        return
    cols = ", ".join(f"{k} {v!r}" if v else f"{k} –" for k, v in res.columns.items())
    click.echo(
        f"Customer view: {s['issues_identified']:,} issues of identified customers ({s['issues']:,} in all) "
        f"from {s['cases']:,} cases and {s['contacts']:,} contacts; window {human_duration(res.window_s)}"
    )
    click.echo(f"columns: {cols}")
    rows = [
        ("first-contact resolution", percent(s["fcr"]), f"over {s['fcr_issues']:,} issues"),
        (
            "repeat-contact rate",
            percent(s["repeat_contact_rate"]),
            "contacts followed by another in the issue",
        ),
        (
            "contacts per issue",
            "–" if s["contacts_per_issue"] is None else f"{s['contacts_per_issue']:.2f}",
            "",
        ),
        ("channel-switch rate", percent(s["channel_switch_rate"]), "issues with a change of channel"),
        (
            "re-verification rate",
            percent(s["reverification_rate"]),
            "verified contacts checked twice or more",
        ),
        (
            "information requests",
            percent(s["information_request_rate"]),
            f"repeated: {percent(s['repeat_request_rate'])}",
        ),
        ("customer repeats", percent(s["repeat_information_rate"]), "issues where the customer re-explains"),
        ("abandonment rate", percent(s["abandonment_rate"]), f"of {s['abandonment_base'] or '–'}"),
        ("transfer rate", percent(s["transfer_rate"]), f"of {s['transfer_base'] or '–'}"),
        (
            "customer lead time",
            human_duration(s["lead_median_s"]),
            f"median; p90 {human_duration(s['lead_p90_s'])}",
        ),
    ]
    for label, value, note in rows:
        click.echo(f"  {label:<26} {value:>9}  {note}")
    if s.get("by_channel"):
        click.echo("per channel (contacts, abandonment, transfer, re-verification):")
        for r in s["by_channel"]:
            click.echo(
                f"  {r['channel']:<12} {r['contacts']:>8,} {percent(r['share']):>8}  {percent(r['abandonment_rate']):>8} "
                f"{percent(r['transfer_rate']):>8} {percent(r['reverification_rate']):>8}"
            )
    if top:
        longest = res.issues[res.issues["customer_known"]].sort_values(
            ["lead_s", "issue_id"], ascending=[False, True]
        )
        click.echo(f"longest issues (top {min(top, len(longest))}):")
        for r in longest.head(top).to_dict("records"):
            path = r["channels"] if len(r["channels"]) <= 60 else r["channels"][:59] + "…"
            click.echo(
                f"  {r['issue_id']:<16} {human_duration(r['lead_s']):>8} {r['cases']:>4} cases {r['contacts']:>4} contacts"
                f"  {path}"
            )
    if comparison is not None:
        click.echo(f"by {by} (seed {seed}, {resamples} resamples, 95 % CI):")
        for line in comparison_lines(comparison):
            click.echo("  " + line)
    click.echo("")
    click.echo(headline(s, res.window_s))
    for note in res.notes:
        click.echo(f"note: {note}")
