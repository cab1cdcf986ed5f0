"""``flowlens whatif LOG --scenario FILE ...``: what each scenario would save, with 95 % CIs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from flowlens.cli.fit_cmd import calendar_option, load_calendars
from flowlens.cli.options import (
    emit_json,
    json_option,
    log_options,
    other_work_option,
    seed_option,
    start_column_as,
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
    calendar_file: Path | None,
    seed: int,
    as_json: bool,
) -> None:
    """What each scenario would save: LOG's process simulated as it is and as each scenario
    changes it, in paired replications (common random numbers) on models refitted to bootstrap
    resamples of LOG's cases, so each saving's 95 % CI carries the model's own uncertainty.

    \b
    Examples:
      flowlens whatif loans.csv --scenario digital_first.toml --scenario plus_one.toml
      flowlens whatif loans.csv --model model.json --scenario s.toml --replications 20 --json
    """
    from flowlens.cli.simulate_cmd import checked_time
    from flowlens.simulation.fit import build, observe
    from flowlens.simulation.model import SimulationModel
    from flowlens.simulation.scenarios import Scenario
    from flowlens.simulation.whatif import whatif as run_whatif

    start_time = checked_time(start_time, "--start")
    # the scenario files are read (and checked) before the log: a typo costs no fit
    scenarios = [Scenario.from_file(p) for p in scenario_files]
    given = SimulationModel.load(model_file) if model_file is not None else None
    progress = Progress(enabled=False if as_json else None)
    cals = load_calendars(calendar_file)
    with progress.step(f"reading {log_path}"):
        log = read()
    fid: dict[str, Any] | None = None
    if check_fidelity:
        from flowlens.simulation.fidelity import fidelity

        with progress.step("checking the model on held-out cases (fidelity)"):
            result = fidelity(log, k=3, seed=seed, calendars=cals, other_work=other_work(log))
        fid = result.summary()
    with progress.step(f"fitting a simulation model to {log.n_cases:,} cases"):
        obs = observe(log, calendars=cals, other_work=other_work(log))
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
        )
    res.fidelity = fid
    out = res.to_dict()
    if as_json:
        emit_json(out)
        return
    _echo(out)


def _echo(out: dict[str, Any]) -> None:
    from flowlens.render.text import visible

    fid = out.get("fidelity")
    if fid is not None:
        word = "trusted" if fid["trusted"] else "NOT trusted"
        click.echo(f"fidelity    {word}: {visible(str(fid.get('summary') or ''))}")
    b = out["baseline"]
    click.echo(
        f"baseline    lead time mean {b['lead_time_mean_h']:.1f} h, median {b['lead_time_median_h']:.1f} h, "
        f"p90 {b['lead_time_p90_h']:.1f} h ({out['replications']} paired replications of "
        f"{out['cases_per_replication']:,} cases; stopped by {out['stopped_by']})"
    )
    for s in sorted(out["scenarios"], key=lambda r: -r["saving_mean_h"]):
        lo, hi = s["saving_ci95_h"]
        flag = "" if s["significant"] else "  (not significant)"
        click.echo(
            f"{visible(s['name'])[:40]:40s}  saves {s['saving_mean_h']:+.2f} h ({s['saving_pct']:+.1f} %), "
            f"95 % CI {lo:+.2f} to {hi:+.2f} h; staff {s['staff_hours_delta']:+,.0f} h{flag}"
        )


# --start is when the simulated period begins; the log's start-time column is --start-column
start_column_as(whatif)
