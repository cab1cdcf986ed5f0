"""``flowlens drivers LOG``: case attributes and behaviours associated with long lead times."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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


@click.command()
@log_options
@click.option(
    "--factor",
    "factors",
    multiple=True,
    metavar="COLUMN",
    help="Attribute to test (repeatable; default: all case attributes).",
)
@click.option("--exclude", multiple=True, metavar="COLUMN", help="Attribute not to test (repeatable).")
@click.option(
    "--behaviours/--no-behaviours",
    default=True,
    show_default=True,
    help="Also test rework, transfers, repeated identity checks, information requests, several contacts.",
)
@click.option(
    "--groups",
    "groups_file",
    type=click.Path(path_type=Path),
    help="JSON or TOML file {group: [activity names]} for the behaviours.",
)
@click.option(
    "--top", type=click.IntRange(min=1), default=15, show_default=True, help="How many effects to list."
)
@bootstrap_options
@case_table_options
@process_option
@json_option
def drivers(
    read: Callable[[], EventLog],
    add_cases: Callable[[EventLog], EventLog],
    log_path: Path,
    factors: tuple[str, ...],
    exclude: tuple[str, ...],
    behaviours: bool,
    groups_file: Path | None,
    top: int,
    seed: int,
    resamples: int,
    process: str | None,
    as_json: bool,
) -> None:
    """Which case attributes and behaviours go with long lead times in LOG: ratio of median
    lead times and difference of means with bootstrap 95 % CIs, rank correlations for numbers,
    strongest first, each in one sentence. Associations, not causes.

    \b
    Examples:
      flowlens drivers calls.csv.gz
      flowlens drivers events.parquet --cases cases.parquet --exclude outcome --json
    """
    from flowlens.analysis.drivers import drivers as compute
    from flowlens.units import human_duration

    progress = Progress(enabled=False if as_json else None)
    with progress.step(f"reading {log_path}"):
        log = add_cases(read())
    with progress.step(f"measuring effects ({resamples} resamples)"):
        res = compute(
            log,
            factors=list(factors) or None,
            exclude=exclude,
            behaviours=behaviours,
            groups=groups_file,
            seed=seed,
            resamples=resamples,
            process=process,
        )
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
    within = f", within processes ({res.within})" if res.within else ""
    click.echo(
        f"Slow-case drivers over {res.cases:,} cases (seed {seed}, {resamples} resamples, 95 % CI{within})"
    )
    t = res.table.head(top)
    for r in t.to_dict("records"):
        ratio = "–" if r["ratio"] != r["ratio"] else f"{r['ratio']:.3g}×"
        flag = "too few" if r["small"] else ("noise" if r["noise"] else "")
        if r.get("inconsistent") is True:
            flag = "not consistent"
        name = f"{r['factor']} = {r['level']}" if r["kind"] != "behaviour" else r["factor"]
        name = name if len(name) <= 36 else name[:35] + "…"
        click.echo(
            f"  {name:<36} {100 * r['share']:5.1f}%  median {human_duration(r['median_in']):>8} vs "
            f"{human_duration(r['median_out']):>8}  {ratio:>8}  {flag}"
        )
    if len(res.correlations):
        click.echo("rank correlations with lead time:")
        for r in res.correlations.to_dict("records"):
            click.echo(
                f"  {r['factor']:<36} ρ = {r['rho']:+.2f} [{r['rho_low']:+.2f}, {r['rho_high']:+.2f}]  n = {r['n']:,}"
            )
    click.echo("")
    for sentence in res.sentences(limit=5):
        click.echo(sentence)
    click.echo(res.headline())
    for note in res.notes:
        click.echo(f"note: {note}")
