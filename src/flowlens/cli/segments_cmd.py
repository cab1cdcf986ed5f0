"""``flowlens segments LOG --by COLUMN``: headline metrics per segment with bootstrap CIs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from flowlens.cli.options import (
    bootstrap_options,
    case_table_options,
    emit_json,
    json_option,
    log_options,
    process_option,
)
from flowlens.cli.progress import Progress
from flowlens.log import EventLog

if TYPE_CHECKING:
    import pandas as pd


def comparison_lines(table: pd.DataFrame, *, versus: str = "rest") -> list[str]:
    """Text rows for a segment comparison table (one block per metric)."""
    import math

    from flowlens.analysis.segments import CASE_METRICS, ISSUE_METRICS, Metric

    known = {m.name: m for m in (*CASE_METRICS, *ISSUE_METRICS)}
    lines: list[str] = []
    for name, block in table.groupby("metric", sort=False):
        first = block.iloc[0]
        m = known.get(str(name)) or Metric(str(name), str(first["label"]), str(name), kind=str(first["kind"]))
        lines.append(f"{m.label}:")
        for r in block.to_dict("records"):
            value = f"{m.format(r['value'])} [{m.format(r['ci_low'])}–{m.format(r['ci_high'])}]"
            group = str(r["group"])
            proc = r.get("process")
            if isinstance(proc, str) and group != "(all)":
                group = f"{proc} · {group}"
            elif isinstance(proc, str):
                group = f"{proc} (all)"
            group = group if len(group) <= 28 else group[:27] + "…"
            if (
                r["group"] == "(all)"
                or r["noise"] is None
                or (isinstance(r["noise"], float) and math.isnan(r["noise"]))
            ):
                lines.append(f"  {group:<28} {r['n']:>8,}  {value}")
                continue
            flag = "too few" if r["small"] else ("noise" if r["noise"] else "differs")
            lines.append(
                f"  {group:<28} {r['n']:>8,}  {value}  vs {versus} {m.format(r['other'])}: "
                f"{m.format_diff(r['diff'])} [{m.format_diff(r['diff_low'])} to {m.format_diff(r['diff_high'])}]  {flag}"
            )
    return lines


@click.command()
@log_options
@click.option(
    "--by",
    "by",
    required=True,
    metavar="COLUMN",
    help="Case attribute to compare (segment, channel, product, ...).",
)
@click.option(
    "--reference", metavar="VALUE", help="Compare each segment with this one instead of with the rest."
)
@bootstrap_options
@case_table_options
@process_option
@json_option
def segments(
    read: Callable[[], EventLog],
    add_cases: Callable[[EventLog], EventLog],
    log_path: Path,
    by: str,
    reference: str | None,
    seed: int,
    resamples: int,
    process: str | None,
    as_json: bool,
) -> None:
    """Compare LOG's headline metrics (lead time, waiting share, flow efficiency, SLA met, FCR,
    contacts per issue, ...) across the values of a case attribute, with bootstrap 95 %
    confidence intervals; a difference whose interval contains 0 is flagged as noise.

    \b
    Examples:
      flowlens segments calls.csv.gz --by priority
      flowlens segments events.parquet --cases cases.parquet --by segment --reference mass --json
    """
    from flowlens.analysis.segments import segments as compute

    progress = Progress(enabled=False if as_json else None)
    with progress.step(f"reading {log_path}"):
        log = add_cases(read())
    with progress.step(f"comparing by {by} ({resamples} resamples)"):
        res = compute(log, by, reference=reference, seed=seed, resamples=resamples, process=process)
    if as_json:
        emit_json(
            {
                "source": log.source.path,
                "filters": list(log.filters),
                **res.to_dict(),
                "headline": res.headline(),
            }
        )
        return
    sizes = ", ".join(f"{k} {v:,}" for k, v in sorted(res.sizes.items(), key=lambda kv: -kv[1]))
    within = f"; within processes ({res.within})" if res.within else ""
    click.echo(f"Segments by {res.by}: {sizes} cases; seed {seed}, {resamples} resamples, 95 % CI{within}")
    for line in comparison_lines(res.table, versus=f"'{reference}'" if reference else "rest"):
        click.echo(line)
    click.echo("")
    click.echo(res.headline())
    for note in res.notes:
        click.echo(f"note: {note}")
