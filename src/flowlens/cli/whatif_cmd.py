"""``flowlens whatif LOG --scenario FILE ...``: what each scenario would save, with 95 % CIs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from flowlens.cli.fit_cmd import calendar_option, load_calendars
from flowlens.cli.options import (
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
    "--scenario",
    "scenario_files",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="A scenario file (TOML or JSON; docs/methods.md §17.1); repeat for several.",
)
@click.option(
    "--model",
    "model_file",
    type=click.Path(path_type=Path),
    help="Use this fitted model (flowlens fit) instead of fitting LOG; LOG still gives the "
    "model's uncertainty (bootstrap refits) and the fidelity check.",
)
@click.option(
    "--cases", type=click.IntRange(min=10), help="Cases per replication [default: the log's, at most 2,000]."
)
@click.option(
    "--start", "start_time", metavar="TIME", help="When the simulated period starts [default: the log's end]."
)
@click.option(
    "--replications",
    type=click.IntRange(min=2),
    help="Run exactly this many paired replications [default: until the precision is reached].",
)
@click.option(
    "--max-replications",
    type=click.IntRange(min=2),
    default=100,
    show_default=True,
    help="The most replications.",
)
@click.option(
    "--precision",
    type=click.FloatRange(min=0, min_open=True, max=1, max_open=True),
    default=0.02,
    show_default=True,
    help="Stop when every saving's CI half-width is within this share of the baseline's mean lead time.",
)
@click.option(
    "--max-time", type=click.FloatRange(min=1), help="Stop adding replications after this many seconds."
)
@click.option(
    "--fidelity/--no-fidelity",
    "check_fidelity",
    default=True,
    show_default=True,
    help="First check that a model fitted on 80 % of LOG reproduces the rest (flowlens fidelity, K = 3).",
)
@click.option(
    "--segment",
    "segment_col",
    metavar="COLUMN",
    default="auto",
    show_default=True,
    help="Case attribute whose values each saving is also given for ('none': no breakdown; auto: "
    "segment, product, priority, process or type).",
)
@click.option(
    "--channel",
    "channel_col",
    metavar="COLUMN",
    default="auto",
    show_default=True,
    help="Case attribute naming the channel, for savings per channel ('none': no breakdown; auto: "
    "the channel names the findings use).",
)
@click.option(
    "--case-table",
    "case_table",
    type=click.Path(path_type=Path),
    help="A per-case table (CSV or Parquet, e.g. the generator's cases.parquet) whose columns become "
    "case attributes: the model draws them, so savings can be broken down by segment and channel.",
)
@click.option(
    "--sla",
    multiple=True,
    metavar="PRESET",
    help="Deadline preset whose compliance each scenario is measured on (repeatable; see "
    "`flowlens sla --list-presets`).",
)
@click.option(
    "--sla-rule",
    "sla_rules",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Deadline rule file (TOML/JSON) whose compliance each scenario is measured on.",
)
@jobs_option("running replications")
@calendar_option
@other_work_option
@seed_option
@json_option
def whatif(
    read: Callable[[], EventLog],
    other_work: Callable[[EventLog], EventLog | None],
    log_path: Path,
    scenario_files: tuple[Path, ...],
    model_file: Path | None,
    cases: int | None,
    start_time: str | None,
    replications: int | None,
    max_replications: int,
    precision: float,
    max_time: float | None,
    check_fidelity: bool,
    segment_col: str,
    channel_col: str,
    case_table: Path | None,
    sla: tuple[str, ...],
    sla_rules: tuple[Path, ...],
    jobs: int | None,
    calendar_file: Path | None,
    seed: int,
    as_json: bool,
) -> None:
    """What each scenario would save: LOG's process simulated as it is and as each scenario
    changes it, in paired replications (common random numbers) on the model fitted to LOG (the
    estimate) and on models refitted to bootstrap resamples of LOG's weeks (their spread gives
    each saving's 95 % CI the model's own uncertainty).
    Per scenario: lead time mean, median and p90, waiting, staff hours, utilisation per pool,
    compliance with each --sla rule, and the saving overall and per segment and channel.

    \b
    Examples:
      flowlens whatif loans.csv --scenario digital_first.toml --scenario plus_one.toml
      flowlens whatif loans.csv --model model.json --scenario s.toml --replications 20 --json
      flowlens whatif bank/events.parquet --case-table bank/cases.parquet --sla CN_NFRA_2020 \\
          --scenario remote_id.toml
    """
    from flowlens.analysis.sla import given_rules
    from flowlens.cli.simulate_cmd import checked_time
    from flowlens.simulation.fit import build, observe
    from flowlens.simulation.model import SimulationModel
    from flowlens.simulation.scenarios import Scenario
    from flowlens.simulation.whatif import whatif as run_whatif

    start_time = checked_time(start_time, "--start")
    # the scenario files and deadline rules are read (and checked) before the log: a typo costs no fit
    scenarios = [Scenario.from_file(p) for p in scenario_files]
    rules = given_rules(sla, sla_rules)
    given = SimulationModel.load(model_file) if model_file is not None else None
    progress = Progress(enabled=False if as_json else None)
    n_jobs = worker_count(jobs)
    cals = load_calendars(calendar_file)
    with progress.step(f"reading {log_path}"):
        log = read()
        if case_table is not None:
            from flowlens.io.cases import add_case_attributes

            log = add_case_attributes(log, case_table)
        other = other_work(log)  # read once: the check and the fit use the same
    fid: dict[str, Any] | None = None
    if check_fidelity:
        from flowlens.simulation.fidelity import fidelity

        with progress.step("checking the model on held-out cases (fidelity)"):
            result = fidelity(log, k=3, seed=seed, jobs=n_jobs, calendars=cals, other_work=other)
        fid = result.summary()
    with progress.step(f"fitting a simulation model to {log.n_cases:,} cases"):
        obs = observe(log, calendars=cals, other_work=other)
        model = given if given is not None else build(obs)
    with progress.step(f"simulating {len(scenarios)} scenario(s) and the baseline in paired replications"):
        res = run_whatif(
            model,
            scenarios,
            observations=obs,
            cases=cases,
            start=start_time,
            seed=seed,
            replications=replications,
            max_replications=max_replications,
            precision=precision,
            max_time_s=max_time,
            segment=_column(log, segment_col, "segment"),
            channel=_column(log, channel_col, "channel"),
            sla=rules,
            jobs=n_jobs,
        )
    res.fidelity = fid
    out = res.to_dict()
    if as_json:
        emit_json(out)
        return
    _echo(out)


def _column(log: EventLog, name: str, role: str) -> str | None:
    """A --segment/--channel value as the model's column name ('auto' and 'none' kept)."""
    if name.lower() == "none":
        return None
    if name == "auto":
        return "auto"
    from flowlens.attributes import resolve_column

    return resolve_column(log, name, what=role)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f} %"


def _echo(out: dict[str, Any]) -> None:
    from flowlens.render.text import visible

    fid = out.get("fidelity")
    if fid is not None:
        word = "trusted" if fid["trusted"] else "NOT trusted"
        click.echo(f"fidelity    {word}: {visible(str(fid.get('summary') or ''))}")
    b = out["baseline"]
    click.echo(
        f"baseline    lead time mean {b['lead_time_mean_h']:.1f} h, median {b['lead_time_median_h']:.1f} h, "
        f"p90 {b['lead_time_p90_h']:.1f} h, waiting {b['waiting_mean_h']:.1f} h a case, staff "
        f"{b['staff_hours']:,.0f} h ({out['replications']} paired replications of "
        f"{out['cases_per_replication']:,} cases; stopped by {out['stopped_by']})"
    )
    if b.get("utilisation"):
        busy = "; ".join(f"{visible(p)}: {100 * u:.0f} %" for p, u in b["utilisation"].items())
        click.echo(f"            utilisation: {busy}")
    for rule in b.get("sla", []):
        if rule.get("applicable") is False:
            click.echo(f"            deadline {visible(rule['rule'])}: {visible(str(rule['reason']))}")
            continue
        click.echo(
            f"            deadline {visible(rule['rule'])}: {_pct(rule['met_pct'])} of decided cases met"
        )
    for s in sorted(out["scenarios"], key=lambda r: (-r["saving_mean_h"], r["name"])):
        lo, hi = s["saving_ci95_h"]
        flag = "" if s["significant"] else "  (not significant)"
        click.echo(
            f"{visible(s['name'])[:40]:40s}  saves {s['saving_mean_h']:+.2f} h ({s['saving_pct']:+.1f} %), "
            f"95 % CI {lo:+.2f} to {hi:+.2f} h; staff {s['staff_hours_delta']:+,.0f} h{flag}"
        )
        click.echo(
            f"    lead time mean {s['lead_time_mean_h']:.1f} h, median {s['lead_time_median_h']:.1f} h, "
            f"p90 {s['lead_time_p90_h']:.1f} h, waiting {s['waiting_mean_h']:.1f} h a case"
        )
        changed = [
            f"{visible(p)}: {100 * b['utilisation'].get(p, 0.0):.0f} → {100 * u:.0f} %"
            for p, u in s.get("utilisation", {}).items()
            if abs(u - b["utilisation"].get(p, 0.0)) >= 0.005
        ]
        if changed:
            click.echo(f"    utilisation: {'; '.join(changed)}")
        if s.get("trusted") is False and s.get("fidelity_concerns"):
            # the model misplaces these steps on held-out cases (methods §17.3)
            off = ", ".join(f"'{visible(a)}'" for a in s["fidelity_concerns"])
            click.echo(f"    NOT trusted: the fidelity check gets {off} wrong")
        for q in s.get("queue_concerns") or []:
            # a queue that grows through the log (methods §16.2)
            click.echo(f"    NOT trusted: {visible(q['reason'])}")
        for rule in s.get("sla", []):
            if not rule["decided"]:
                why = str(rule.get("reason") or "no simulated case is decided")
                click.echo(f"    deadline {visible(rule['rule'])}: {visible(why)}")
                continue
            lo, hi = rule["change_ci95_pp"]
            click.echo(
                f"    deadline {visible(rule['rule'])}: {_pct(rule['baseline_met_pct'])} → {_pct(rule['met_pct'])} met "
                f"({rule['change_pp']:+.1f} points, 95 % CI {lo:+.1f} to {hi:+.1f})"
                + ("" if rule["significant"] else " (not significant)")
            )
            if rule.get("linked") is False:
                click.echo(f"      caution: {visible(rule['note'])}")
        for role in ("segment", "channel"):
            part = s.get(f"by_{role}")
            if not part:
                continue
            if not part.get("linked", True):
                click.echo(f"    by {role}: not shown: {visible(part['note'])}")
                continue
            click.echo(f"    by {role} ({visible(part['column'])}):")
            for g in part["groups"]:
                lo, hi = g["saving_ci95_h"]
                flag = "" if g["significant"] else "  (not significant)"
                click.echo(
                    f"      {visible(g['value'])[:24]:24s} saves {g['saving_mean_h']:+.2f} h "
                    f"({g['saving_pct']:+.1f} %), 95 % CI {lo:+.2f} to {hi:+.2f} h; "
                    f"{g['cases']:,.0f} cases a replication{flag}"
                )


# --start is when the simulated period begins; the log's start-time column is --start-column
start_column_as(whatif)
