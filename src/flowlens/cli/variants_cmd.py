"""``flowlens variants LOG``: the variants with count, share, coverage and lead times."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from flowlens.cli.options import emit_json, json_option, log_options
from flowlens.cli.progress import Progress
from flowlens.log import EventLog


@click.command()
@log_options
@click.option(
    "--top", type=click.IntRange(min=1), default=20, show_default=True, help="How many variants to list."
)
@click.option(
    "--cases/--no-cases",
    "with_cases",
    default=False,
    show_default=True,
    help="Also list the case ids behind each listed variant.",
)
@click.option(
    "--csv", "csv_path", type=click.Path(path_type=Path), help="Also write all variants to this CSV file."
)
@json_option
def variants(
    read: Callable[[], EventLog],
    log_path: Path,
    top: int,
    with_cases: bool,
    csv_path: Path | None,
    as_json: bool,
) -> None:
    """List LOG's variants, most frequent first, with share, cumulative coverage and lead times.

    \b
    Examples:
      flowlens variants loans.xes.gz --top 10
      flowlens variants loans.xes.gz --json --cases --top 3
    """
    from flowlens.cli.guard import guard_outputs

    # before reading anything: no output may overwrite an input
    guard_outputs(files=("csv_path",))
    import pandas as pd

    from flowlens.discovery.variants import variant_cases
    from flowlens.discovery.variants import variants as compute
    from flowlens.io.writers import write_safe_csv
    from flowlens.units import human_duration

    progress = Progress(enabled=False if as_json else None)
    with progress.step(f"reading {log_path}"):
        log = read()
    with progress.step("computing variants"):
        table = compute(log)
    shown = table.head(top)
    cases = {i: variant_cases(log, v) for i, v in enumerate(shown.variant)} if with_cases else {}
    if csv_path is not None:
        out = table.assign(variant=[" → ".join(v) for v in table.variant])
        write_safe_csv(pd.DataFrame(out), csv_path)
    if as_json:
        emit_json(
            {
                "source": log.source.path,
                "filters": list(log.filters),
                "variants": len(table),
                "cases": int(table["count"].sum()),
                "top": [
                    {
                        "rank": i + 1,
                        "activities": list(r["variant"]),
                        "length": int(r["length"]),
                        "count": int(r["count"]),
                        "share": float(r["share"]),
                        "cum_share": float(r["cum_share"]),
                        "lead_median_s": float(r["lead_median_s"]),
                        "lead_mean_s": float(r["lead_mean_s"]),
                        "example_case": r["example_case"],
                        **({"case_ids": cases[i]} if with_cases else {}),
                    }
                    for i, r in enumerate(shown.to_dict("records"))
                ],
            }
        )
        return
    click.echo(f"{len(table):,} variants over {int(table['count'].sum()):,} cases")
    for i, r in enumerate(shown.to_dict("records")):
        seq = " → ".join(r["variant"])
        if len(seq) > 120:
            seq = seq[:117] + "…"
        click.echo(
            f"{i + 1:>4}. {r['count']:>8,} cases {100 * r['share']:5.1f} % (cum {100 * r['cum_share']:5.1f} %) "
            f"median {human_duration(r['lead_median_s']):>8}  {seq}"
        )
        if with_cases:
            ids = cases[i]
            click.echo(
                "      cases: "
                + ", ".join(ids[:20])
                + (f", … ({len(ids) - 20} more)" if len(ids) > 20 else "")
            )
