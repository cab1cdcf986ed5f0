"""``flowlens fit LOG -o model.json``: learn a simulation model from a log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from flowlens.cli.options import emit_json, json_option, log_options, other_work_option
from flowlens.cli.progress import Progress

if TYPE_CHECKING:
    from flowlens.log import EventLog
    from flowlens.simulation.model import SimulationModel
    from flowlens.timing.calendars import CalendarSet


def calendar_option(func: Any) -> Any:
    """``--calendar FILE``: working calendars the model's pools keep (default: discovered)."""
    return click.option(
        "--calendar",
        "calendar_file",
        type=click.Path(path_type=Path),
        help="Working calendars (TOML/JSON) of the staff; default: discovered from when resources work.",
    )(func)


def load_calendars(calendar_file: Path | None) -> CalendarSet | None:
    """The ``--calendar`` file's calendars, or None when none was given."""
    if calendar_file is None:
        return None
    from flowlens.timing.calendars import CalendarSet

    return CalendarSet.from_file(calendar_file)


def fit_from_options(
    read: Callable[[], EventLog],
    other_work: Callable[[EventLog], EventLog | None],
    calendar_file: Path | None,
    log_path: Path,
    progress: Progress,
) -> SimulationModel:
    """Read LOG as the log options say and fit a model (shared by ``fit`` and ``simulate``)."""
    from flowlens.simulation.fit import fit_model

    cals = load_calendars(calendar_file)
    with progress.step(f"reading {log_path}"):
        log = read()
    with progress.step(f"fitting a simulation model to {log.n_cases:,} cases"):
        return fit_model(log, calendars=cals, other_work=other_work(log))


def model_summary(model: SimulationModel) -> dict[str, Any]:
    """Headline facts of a model: activities, pools, arrivals per day, control-flow order."""
    inten = model.arrivals.get("intensity") or []
    per_week = float(sum(sum(row) for row in inten))
    return {
        "name": model.name,
        "timezone": model.timezone,
        "activities": len(model.activities),
        "pools": len(model.pools),
        "pool_members": sum(len(p.get("members", [])) for p in model.pools.values()),
        "calendars": sorted(model.calendars),
        "arrivals_per_day": per_week / 7.0,
        "arrival_pattern": model.arrivals.get("pattern"),
        "order": model.control_flow.get("order"),
        "transitions": len(model.control_flow.get("transitions", [])),
        "concurrent_pairs": len(model.control_flow.get("concurrent", [])),
        "batching": sorted(model.batching),
        "priority": (model.priority or {}).get("attribute"),
        "fitted": model.fitted,
    }


def echo_summary(s: dict[str, Any]) -> None:
    fitted = s.get("fitted") or {}
    if fitted.get("cases"):
        click.echo(
            f"fitted on {fitted['cases']:,} cases, {fitted.get('events', 0):,} activity instances "
            f"({fitted.get('start', '?')[:10]} to {fitted.get('end', '?')[:10]})"
        )
    click.echo(f"  activities  {s['activities']}")
    click.echo(
        f"  pools       {s['pools']} ({s['pool_members']} people; calendars: "
        f"{', '.join(s['calendars']) or '24x7'})"
    )
    click.echo(f"  arrivals    {s['arrivals_per_day']:.1f} a day ({s['arrival_pattern'] or 'flat'} pattern)")
    click.echo(
        f"  control     order {s['order']} ({s['transitions']} histories, "
        f"{s['concurrent_pairs']} concurrent pairs)"
    )
    # a queue that does not settle makes every what-if on its pool's cases untrusted (methods
    # §16.2): say so where the model is made, not only when a scenario runs
    for u in fitted.get("unsettled_queues") or []:
        click.echo(
            f"  unsettled   '{u['activity']}' started {u['started_mid']:,} times against "
            f"{u['enabled_mid']:,} enablements in the middle half of the log (mean wait "
            f"{u['mean_wait_h']:.0f} h): what-ifs on its pool's cases are not trusted"
        )


@click.command()
@log_options
@click.option(
    "-o",
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Write the model here (JSON; edit it by hand and run it with flowlens simulate).",
)
@click.option(
    "--export",
    "export_dir",
    type=(click.Choice(["prosimos"]), click.Path(path_type=Path, file_okay=False)),
    default=None,
    callback=lambda _ctx, _param, value: value[1] if value else None,
    metavar="prosimos DIR",
    help="Also write the model for Prosimos 2.1.0 (Simod's simulator; Apromore opens the BPMN): "
    "DIR/prosimos.bpmn and DIR/prosimos.json (what maps and how: methods §16.7).",
)
@calendar_option
@other_work_option
@json_option
def fit(
    read: Callable[[], EventLog],
    other_work: Callable[[EventLog], EventLog | None],
    log_path: Path,
    out_path: Path,
    export_dir: Path | None,
    calendar_file: Path | None,
    as_json: bool,
) -> None:
    """Learn a simulation model from LOG: arrivals, control flow, durations, delays, pools and
    calendars, written as JSON that flowlens simulate runs.

    \b
    Examples:
      flowlens fit loans.csv -o loans_model.json
      flowlens fit calls.csv --calendar shifts.toml --other-work alerts.csv -o model.json --json
      flowlens fit loans.csv -o loans_model.json --export prosimos loans_prosimos/
    """
    from flowlens.cli.guard import guard_outputs
    from flowlens.simulation.prosimos import BPMN_NAME, JSON_NAME, export_prosimos, left_out

    # before reading anything: no output may overwrite an input
    guard_outputs(files=("out_path",), folder="export_dir", folder_files=(BPMN_NAME, JSON_NAME))
    progress = Progress(enabled=False if as_json else None)
    model = fit_from_options(read, other_work, calendar_file, log_path, progress)
    model.save(out_path)
    exported = [str(p) for p in export_prosimos(model, export_dir)] if export_dir is not None else []
    dropped = left_out(model) if exported else []
    s = model_summary(model)
    if as_json:
        emit_json(
            {
                "source": str(log_path),
                "model": str(out_path),
                "prosimos": exported,
                "prosimos_left_out": dropped,
                **s,
            }
        )
        return
    echo_summary(s)
    click.echo(f"model       {out_path}")
    if exported:
        click.echo(f"prosimos    {', '.join(exported)}")
        if dropped:
            click.echo(f"            (Prosimos cannot run: {', '.join(dropped)})")
