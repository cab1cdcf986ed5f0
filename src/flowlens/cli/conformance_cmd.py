"""``flowlens conformance LOG --model FILE``: how far the log strays from a designed process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from flowlens.cli.options import emit_json, json_option, log_options, seed_option
from flowlens.cli.progress import Progress
from flowlens.log import EventLog

if TYPE_CHECKING:
    from flowlens.conformance.result import ConformanceResult


@click.command()
@log_options
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    required=True,
    help="The designed process: BPMN 2.0 XML (.bpmn) or a Petri net (.pnml).",
)
@click.option(
    "--time-budget",
    "time_budget",
    type=click.FloatRange(0, min_open=True),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Stop aligning after this long; the output then says which cases it covers.",
)
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    metavar="N",
    help="Align the variants of N cases drawn at random and estimate the whole log (with 95 % intervals).",
)
@seed_option
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Deviations listed (text output).",
)
@json_option
def conformance(
    read: Callable[[], EventLog],
    log_path: Path,
    model_path: Path,
    time_budget: float,
    sample: int | None,
    seed: int,
    top: int,
    as_json: bool,
) -> None:
    """Check LOG against the designed process in --model: fitness, fitting cases, deviations.

    Each variant is aligned once to the model (optimal alignments, as pm4py computes them) and
    counts for all its cases. Variants are taken most frequent first until --time-budget; when
    the budget runs out, the output says how many cases it covers and gives bounds for the whole
    log. --sample N estimates the whole log from N random cases instead.

    \b
    Examples:
      flowlens conformance loans.xes.gz --model designed.bpmn
      flowlens conformance loans.xes.gz --model designed.pnml --sample 2000 --json
    """
    from flowlens.conformance import conformance as check
    from flowlens.discovery.bpmn import read_model

    progress = Progress(enabled=False if as_json else None)
    with progress.step(f"reading {model_path}"):
        model = read_model(model_path)  # a bad model file fails before the log is read
    with progress.step(f"reading {log_path}"):
        log = read()
    with progress.step("aligning variants"):
        result = check(log, model, time_budget_s=time_budget, sample=sample, seed=seed)
    result = replace(result, model=str(model_path))
    if as_json:
        emit_json({"source": log.source.path, "filters": list(log.filters), **result.to_dict()})
        return
    for line in _text(result, top):
        click.echo(line)


def _text(r: ConformanceResult, top: int) -> list[str]:
    from flowlens.units import human_duration, percent

    def rng(pair: tuple[float, float] | None, fmt: Callable[[float], str]) -> str:
        if pair is None:
            return ""
        label = "95 % interval" if r.range_kind == "ci95" else "bounds for all cases"
        return f"  ({label} {fmt(pair[0])} – {fmt(pair[1])})"

    def signed(s: float | None) -> str:
        if s is None:
            return "–"
        return ("+" if s >= 0 else "") + human_duration(s)

    lines = [
        f"conformance of {r.cases_total:,} cases ({r.variants_total:,} variants) to {r.model}",
        f"scope          {r.scope}",
    ]
    if r.sampled:
        lines.append(
            f"sampled        yes: {r.cases_aligned:,} cases and {r.variants_aligned:,} variants aligned "
            f"in {r.elapsed_s:.1f} s (budget {r.time_budget_s:g} s)"
        )
    fitness = "–" if r.fitness is None else f"{r.fitness:.4f}"
    lines.append(f"fitness        {fitness}{rng(r.fitness_range, lambda x: f'{x:.4f}')}")
    lines.append(
        f"fitting cases  {percent(r.fitting_share)}{rng(r.fitting_share_range, percent)}"
        + ("" if r.estimated else f"  ({r.fitting_cases:,} of {r.cases_aligned:,})")
    )
    lt = r.lead_time
    lines.append(
        f"lead time      conforming median {human_duration(lt.conforming.median_s)}, deviating median "
        f"{human_duration(lt.deviating.median_s)} ({signed(lt.median_diff_s)}); means "
        f"{human_duration(lt.conforming.mean_s)} vs {human_duration(lt.deviating.mean_s)} ({signed(lt.mean_diff_s)})"
    )
    if r.deviations and top:
        lines.append(f"deviations     (top {min(top, len(r.deviations))} of {len(r.deviations)})")
        width = min(48, max(len(d.activity) for d in r.deviations[:top]))
        for d in r.deviations[:top]:
            name = d.activity if len(d.activity) <= width else d.activity[: width - 1] + "…"
            lines.append(
                f"  {name:<{width}}  {d.kind:<8}  {d.cases:>9,} cases ({percent(d.share)})  {d.occurrences:>9,} times"
            )
    for note in r.notes:
        lines.append(f"note: {note}")
    return lines
