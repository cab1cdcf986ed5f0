"""``flowlens fidelity LOG``: fit on the first part, simulate the rest, score and judge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from flowlens.cli.fit_cmd import calendar_option
from flowlens.cli.options import (
    emit_json,
    jobs_option,
    json_option,
    log_options,
    other_work_option,
    seed_option,
    worker_count,
)
from flowlens.cli.progress import Progress

if TYPE_CHECKING:
    from flowlens.log import EventLog
    from flowlens.simulation.fidelity import FidelityResult


@click.command()
@log_options
@click.option(
    "--test-log",
    "test_path",
    type=click.Path(path_type=Path),
    help="A given test log (read with LOG's columns and time zone; filters do not apply to it): "
    "LOG is then the train part and the reference is train vs test.",
)
@click.option(
    "--k",
    "k",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Simulated logs scored (seeds SEED ... SEED+K-1).",
)
@click.option(
    "--test-share",
    type=click.FloatRange(0, 0.5, min_open=True),
    default=0.2,
    show_default=True,
    help="Share of the cases (the latest by first start) held out as the test part.",
)
@seed_option(default=1)
@jobs_option("scoring the simulated logs")
@calendar_option
@other_work_option
@json_option
def fidelity(
    read: Callable[[], EventLog],
    other_work: Callable[[EventLog], EventLog | None],
    log_path: Path,
    test_path: Path | None,
    k: int,
    test_share: float,
    seed: int,
    jobs: int | None,
    calendar_file: Path | None,
    as_json: bool,
) -> None:
    """How well a simulation model fitted on LOG reproduces cases it did not see, and whether
    it is good enough to trust what-ifs: the log-distance measures against the reference
    distance, and a verdict on arrivals, control flow, durations, waiting and cycle time.

    \b
    Examples:
      flowlens fidelity loans.csv
      flowlens fidelity train.csv --test-log test.csv --k 10 --json
    """
    from flowlens.simulation.fidelity import fidelity as run_fidelity

    progress = Progress(enabled=False if as_json else None)
    cals = None
    if calendar_file is not None:
        from flowlens.timing.calendars import CalendarSet

        cals = CalendarSet.from_file(calendar_file)
    with progress.step(f"reading {log_path}"):
        log = read()
    test_log = None
    if test_path is not None:
        from flowlens.io import read_log

        with progress.step(f"reading {test_path}"):
            test_log = read_log(test_path, log.columns, tz=log.timezone, limits=log.engine.limits)
    result = run_fidelity(
        log,
        k=k,
        test_share=test_share,
        seed=seed,
        test_log=test_log,
        jobs=worker_count(jobs),
        step=progress.step,
        calendars=cals,
        other_work=other_work(log),
    )
    if as_json:
        emit_json(
            {"source": str(log_path), "test_log": str(test_path) if test_path else None, **result.to_dict()}
        )
        return
    for line in report_lines(result):
        click.echo(line)


def _fmt(x: float | None, metric: str) -> str:
    if x is None:
        return "–"
    if metric.startswith("ngram") or metric == "ced":
        return f"{x:.3f}"
    if metric.endswith("rel_err"):
        return f"{100 * x:+.1f} %"
    return f"{x:.2f}" if abs(x) < 100 else f"{x:.1f}"


def part_lines(parts: dict[str, Any]) -> list[str]:
    """Per part: good or WRONG, then each check (ok, or off when it fails) as a sentence."""
    from flowlens.simulation.fidelity import PART_LABELS, PARTS

    lines = []
    for p in PARTS:
        part = parts[p]
        for i, c in enumerate(part["checks"]):
            head = f"{PART_LABELS[p]:<13} {'good ' if part['good'] else 'WRONG'}" if i == 0 else " " * 19
            lines.append(f"{head} {'ok ' if c['passed'] else 'off'} {c['text']}")
    return lines


def report_lines(r: FidelityResult) -> list[str]:
    """The table (metric, mean ± sd, reference, ratio) and the verdicts, as text lines."""
    from flowlens.simulation.fidelity import METRIC_LABELS, METRICS

    sp = r.split
    if r.mode == "given_pair":
        head = f"model fitted on the given train log ({sp['train']['cases']:,} cases)"
        ref = "reference: noise floor (the real train log vs the test log)"
    else:
        share = 1 - (r.test_share or 0.2)
        head = f"model fitted on the first {share:.0%} of cases ({sp['train']['cases']:,})"
        ref = f"reference: adjacent window (the {sp['test']['cases']:,} cases just before the test)"
    lines = [
        f"{head}; {r.k} simulated logs of {sp['test']['cases']:,} cases from "
        f"{sp['test']['first_start'][:16]} scored against the test part",
        "",
        f"{'metric':<14} {'simulated (mean ± sd)':>24} {'reference':>10} {'ratio':>7}",
    ]
    for m in METRICS:
        s = r.metrics[m]
        sd = f" ± {_fmt(s['sd'], m).lstrip('+')}" if s["sd"] is not None else ""
        ratio = f"{s['ratio']:.2f}" if s["ratio"] is not None else "–"
        lines.append(
            f"{METRIC_LABELS[m]:<14} {_fmt(s['mean'], m) + sd:>24} {_fmt(s['reference'], m):>10} {ratio:>7}"
        )
    lines += [ref, ""]
    lines += part_lines(r.parts)
    lines += ["", f"verdict: {r.verdict['summary']}"]
    for reason in r.verdict["reasons"]:
        lines.append(f"  - {reason}")
    return lines
