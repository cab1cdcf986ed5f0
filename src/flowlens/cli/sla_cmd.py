"""``flowlens sla LOG --preset ...``: deadline compliance, where breached cases spent their
time, and high-frequency complaint categories (docs/methods.md, "Deadlines and SLA compliance")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from flowlens.cli.options import emit_json, json_option, log_options, process_option
from flowlens.cli.progress import Progress

if TYPE_CHECKING:
    from flowlens.analysis.sla import SlaAnalysis, SlaRule
    from flowlens.log import EventLog


@click.command()
@log_options
@click.option(
    "--list-presets", is_flag=True, help="List the built-in deadline rules with their sources, then exit."
)
@click.option(
    "--preset",
    "preset_names",
    multiple=True,
    metavar="NAME",
    help="A built-in rule (repeatable): CN_NFRA_2020, CN_CBRC_2012, UK_DISP, UK_DISP_PSD, EU_PSD2, AU_RG271, "
    "AU_RG271_ACK, US_CFPB, US_REG_E, US_REG_E_EXTENDED.",
)
@click.option(
    "--rule",
    "rule_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="TOML/JSON rule file (repeatable).",
)
@click.option(
    "--clock-start",
    multiple=True,
    metavar="ACTIVITY",
    help="Custom rule: the clock starts at the first of these activities (default: the case start).",
)
@click.option(
    "--clock-stop",
    multiple=True,
    metavar="ACTIVITY",
    help="Custom rule: the clock stops at the first of these after the start (default: the case end).",
)
@click.option("--days", type=click.IntRange(min=1), help="Custom rule: allowance in days.")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), help="Custom rule: allowance in hours.")
@click.option("--business", is_flag=True, help="Custom rule: count business (working) days.")
@click.option(
    "--extend-days", type=click.IntRange(min=1), help="Custom rule: extended allowance (total days)."
)
@click.option(
    "--extend-activity",
    multiple=True,
    metavar="ACTIVITY",
    help="Custom rule: activity that extends the deadline when it comes before it (e.g. a holding response).",
)
@click.option(
    "--pause",
    "pause_pairs",
    multiple=True,
    nargs=2,
    metavar="START STOP",
    help="Stop the clock from activity START to the next STOP (repeatable; applies to every rule).",
)
@click.option(
    "--calendar",
    "calendar_file",
    type=click.Path(path_type=Path),
    help="Working calendar file (TOML/JSON, as for the time model) for business days; its default calendar is used.",
)
@click.option("--country", metavar="CC[-SUB]", help="Public holidays for business days, e.g. CN, GB-ENG, US.")
@click.option(
    "--sla-tz", metavar="ZONE", help="Time zone of day boundaries (default: the rule's, else the log's)."
)
@click.option(
    "--deadline-at",
    type=click.Choice(["end_of_day", "same_time"]),
    help="A deadline ends at the end of its last day (default) or at the clock time of receipt.",
)
@click.option("--count-receipt-day", is_flag=True, help="Count the day of receipt as day 1.")
@click.option(
    "--roll-forward",
    is_flag=True,
    help="A calendar-day deadline ending on a non-working day moves to the next working day.",
)
@click.option(
    "--receipt-cutoff",
    metavar="HH:MM",
    help="Receipts after this local time (and, for business days, on non-working days) count from the next day.",
)
@click.option("--received", metavar="COLUMN", help="Column with the receipt time (starts the clock).")
@click.option(
    "--applies-to",
    "applies_to",
    metavar="KEY=VALUE",
    help="The cases every rule covers: process=complaint (values of the process column), "
    "activity=ACTIVITY (cases containing it), COLUMN=VALUE, or all (default: each rule's own scope; "
    "presets cover complaints or disputes).",
)
@click.option(
    "--case-table",
    type=click.Path(path_type=Path),
    help="CSV/Parquet case table joined on the case id (e.g. the generator's cases.parquet).",
)
@click.option(
    "--as-of", metavar="TIME", help="When open cases are looked at (default: the log's last event)."
)
@click.option(
    "--category",
    default="auto",
    show_default=True,
    metavar="COLUMN",
    help="Complaint category column (auto: complaint_category, category, reason, 投诉类别 …; none: skip).",
)
@click.option("--period", type=click.Choice(["auto", "week", "month"]), default="auto", show_default=True)
@click.option(
    "--causes/--no-causes",
    default=False,
    show_default=True,
    help="Also split breached cases' waiting by cause (waiting-cause analysis; slower).",
)
@click.option(
    "--cases-csv",
    type=click.Path(path_type=Path),
    help="Write the per-case results of the first rule to this CSV.",
)
@process_option
@json_option
def sla(
    read: Callable[[], EventLog],
    log_path: Path | None,
    list_presets: bool,
    preset_names: tuple[str, ...],
    rule_files: tuple[Path, ...],
    clock_start: tuple[str, ...],
    clock_stop: tuple[str, ...],
    days: int | None,
    hours: float | None,
    business: bool,
    extend_days: int | None,
    extend_activity: tuple[str, ...],
    pause_pairs: tuple[tuple[str, str], ...],
    calendar_file: Path | None,
    country: str | None,
    sla_tz: str | None,
    deadline_at: str | None,
    count_receipt_day: bool,
    roll_forward: bool,
    receipt_cutoff: str | None,
    received: str | None,
    applies_to: str | None,
    case_table: Path | None,
    as_of: str | None,
    category: str,
    period: str,
    causes: bool,
    cases_csv: Path | None,
    process: str | None,
    as_json: bool,
) -> None:
    """Deadline (SLA) compliance of LOG's cases under regulatory presets or custom rules.

    \b
    Examples:
      flowlens sla --list-presets
      flowlens sla complaints.csv --preset CN_NFRA_2020 --preset UK_DISP_PSD --country CN
      flowlens sla bank/events.parquet --case-table bank/cases.parquet --preset CN_NFRA_2020
      flowlens sla log.csv --preset UK_DISP --applies-to process=complaints
      flowlens sla tickets.csv --clock-start Opened --clock-stop Resolved --days 5 --business --country GB-ENG --json
    """
    from flowlens.cli.guard import guard_outputs

    # before reading anything: no output may overwrite an input
    guard_outputs(files=("cases_csv",))
    from flowlens.analysis import sla as S
    from flowlens.errors import ConfigError

    if list_presets:
        _list(S.presets(), as_json)
        return
    if log_path is None:
        raise click.UsageError("give a LOG (or --list-presets)")
    rules: list[SlaRule] = S.given_rules(preset_names, rule_files)
    custom_given = bool(
        clock_start or clock_stop or days or hours or business or extend_days or extend_activity
    )
    if custom_given:
        exts: tuple[S.Extension, ...] = ()
        if extend_days or extend_activity:
            if not (extend_days and extend_activity):
                raise ConfigError("an extension needs both --extend-days N and --extend-activity ACTIVITY")
            exts = (S.Extension(extend_days, tuple(extend_activity), label="extended"),)
        rules.append(
            S.custom_rule(
                start=clock_start or S.CASE_START,
                stop=clock_stop or S.CASE_END,
                days=days,
                hours=hours,
                business=business,
                extensions=exts,
            )
        )
    if not rules:
        raise click.UsageError(
            "give --preset NAME, --rule FILE or a custom rule (--days N …); see --list-presets"
        )
    cal = None
    if calendar_file is not None:
        from flowlens.timing.calendars import CalendarSet

        cal = CalendarSet.from_file(calendar_file).default
    changes: dict[str, Any] = {}
    if deadline_at:
        changes["deadline_at"] = deadline_at
    if count_receipt_day:
        changes["day_count"] = "including_receipt"
    if receipt_cutoff:
        changes["receipt_cutoff"] = receipt_cutoff
    if roll_forward:
        changes["roll_forward"] = True
    if received:
        changes["received"] = received
    if country:
        changes["holiday_country"] = country
    if pause_pairs:
        changes["pauses"] = tuple(S.Pause((a,), (b,)) for a, b in pause_pairs)
    if applies_to:
        changes["applies_to"] = None if applies_to.strip().lower() == "all" else S.parse_scope(applies_to)
    final: list[SlaRule] = []
    for r in rules:
        r = replace(r, **changes)
        if cal is not None:
            r = r.with_calendar(cal)
        if sla_tz:
            r = replace(r, timezone=sla_tz)
        final.append(r)

    progress = Progress(enabled=False if as_json else None)
    with progress.step(f"reading {log_path}"):
        log = read()
        if case_table is not None:
            log = S.with_case_attributes(log, case_table)
    from flowlens.timing.model import time_model

    with progress.step("time model"):
        tm = time_model(log)
    wa = None
    if causes:
        from flowlens.analysis.waiting import waiting_causes

        with progress.step("waiting causes"):
            wa = waiting_causes(tm)
    analyses: list[SlaAnalysis] = []
    for i, r in enumerate(final):
        with progress.step(f"deadlines: {r.name}"):
            analyses.append(
                S.sla_analysis(
                    log,
                    r,
                    tm=tm,
                    causes=wa,
                    category=None if category.lower() == "none" or i > 0 else category,
                    period=period,
                    as_of=as_of,
                    process=process,
                )
            )
    if cases_csv is not None:
        from flowlens.analysis.sla.breakdown import CASE_COLUMNS
        from flowlens.io.writers import write_safe_csv

        df = analyses[0].result.frame()
        write_safe_csv(df[list(CASE_COLUMNS)], cases_csv)
    if as_json:
        emit_json(
            {
                "source": log.source.path,
                "filters": list(log.filters),
                "starts_estimated": tm.starts_estimated,
                "rules": [a.to_dict() for a in analyses],
            }
        )
        return
    for a in analyses:
        _print(a)
    if tm.starts_estimated:
        click.echo(
            "note: some start times were estimated (completion-only instances); waiting/processing splits use them"
        )


def _list(table: dict[str, SlaRule], as_json: bool) -> None:
    from flowlens.analysis.sla import ALIASES

    if as_json:
        emit_json(
            {
                "presets": [
                    {
                        "name": r.name,
                        "summary": r.describe(),
                        "unit": r.unit,
                        "base": r.base,
                        "extensions": [
                            {"days": x.days, "unit": x.unit or r.unit, "label": x.label} for x in r.extensions
                        ],
                        "jurisdiction": r.jurisdiction,
                        "source": r.source,
                        "description": r.description,
                        "verify": r.verify,
                    }
                    for r in table.values()
                ],
                "aliases": ALIASES,
            }
        )
        return
    for r in sorted(table.values(), key=lambda r: r.name):
        click.echo(f"{r.name}{'  [verify]' if r.verify else ''}")
        click.echo(f"  {r.describe().split(': ', 1)[1]}")
        click.echo(f"  {r.jurisdiction}; source: {r.source}")
        click.echo(_wrap(r.description, "  "))
    click.echo("aliases: " + ", ".join(f"{k} = {v}" for k, v in ALIASES.items()))


def _wrap(text: str, indent: str) -> str:
    import textwrap

    return textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent)


def _print(a: SlaAnalysis) -> None:
    from flowlens.units import human_duration, percent

    r = a.result
    s = r.summary()
    rule = r.rule
    click.echo(f"{rule.name}: {rule.describe().split(': ', 1)[1]}")
    start = s["clock_start"] if isinstance(s["clock_start"], str) else " | ".join(s["clock_start"])
    stop = s["clock_stop"] if isinstance(s["clock_stop"], str) else " | ".join(s["clock_stop"])
    click.echo(f"  clock: {start} → first {stop}")
    receipt = "receipt day counted" if rule.day_count == "including_receipt" else "receipt day not counted"
    click.echo(
        f"  {rule.unit_word}, deadline at {rule.deadline_at.replace('_', ' ')}, {receipt}, zone {s['timezone']}"
        + (
            f", received time from '{rule.received}' ({s['received_from_column']:,} cases)"
            if rule.received
            else ""
        )
        + (f", cutoff {rule.receipt_cutoff}" if rule.receipt_cutoff else "")
    )
    n = s["cases"]
    c, sh = s["counts"], s["shares"]
    scope = s.get("scope") or {}
    if scope.get("by", "all") != "all":
        click.echo(f"  applies to {scope['text']}: {scope['covered']:,} of {scope['of']:,} cases")
    click.echo(
        f"  {n:,} cases: {c['met']:,} met ({percent(sh['met'])}), {c['extended']:,} extended "
        f"({percent(sh['extended'])}), {c['breached']:,} breached ({percent(sh['breached'])}"
        + (f", {s['breached_while_open']:,} of them still open" if s["breached_while_open"] else "")
        + f"), {c['open']:,} open"
    )
    unit = rule.unit_word
    if s["margin_median"] is not None:
        click.echo(
            f"  to spare at the response: median {s['margin_median']:.1f} {unit}, 10 % of cases under "
            f"{s['margin_p10']:.1f}"
            + (f"; late cases by a median {s['late_median']:.1f}" if s["late_median"] else "")
        )
    if c["open"]:
        click.echo(f"  next open deadline in {human_duration(s['next_breach_s'])} (as of {s['as_of']})")
    for note in s["notes"]:
        click.echo(f"  note: {note}")
    if a.time_in is not None:
        d = a.time_in.activities
        for grp, label in (("breached", "breached cases"), ("on_time", "on-time cases")):
            g = d[d.group == grp].head(4)
            if not g.empty and float(g.time_s.sum()) > 0:
                click.echo(
                    f"  {label} spent their time in: "
                    + "; ".join(
                        f"{x.activity} {percent(x.share, 0)} (waiting {percent(x.wait_share, 0)})"
                        for x in g.itertuples()
                    )
                )
        if a.time_in.causes is not None:
            cz = a.time_in.causes[a.time_in.causes.group == "breached"]
            if not cz.empty:
                click.echo(
                    "  breached cases' waiting by cause: "
                    + ", ".join(f"{x.cause} {percent(x.share, 0)}" for x in cz.itertuples())
                )
    if a.categories is not None:
        cp = a.categories
        click.echo(f"  categories ('{cp.column}', trend per {cp.period}):")
        for x in cp.table.head(10).itertuples():
            trend = "" if x.trend == "–" else f"  {x.trend} ({100 * x.trend_per_period:+.0f} %/{cp.period})"
            click.echo(
                f"    {str(x.category)[:24]:<24} {x.cases:>7,} {percent(x.share):>7}  median {human_duration(x.lead_median_s):>7}"
                f"  p90 {human_duration(x.lead_p90_s):>7}  breached {percent(x.breach_rate):>7}{trend}"
            )
    click.echo(f"  {a.lead()}")


def _optional_log(cmd: click.Command) -> click.Command:
    # LOG is optional only so that `flowlens sla --list-presets` needs none; the command checks.
    for p in cmd.params:
        if p.name == "log_path":
            p.required = False
    return cmd


sla = _optional_log(sla)
