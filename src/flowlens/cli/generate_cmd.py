"""``flowlens generate bank``: synthetic bank customer-service logs with ground truth."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from flowlens.cli.options import emit_json, json_option, seed_option, worker_count

#: The generator's presets (flowlens.synth.PRESETS), named here so that --help and a wrong
#: name answer without loading the generator.
PRESET_NAMES = ("tiny", "demo", "large")


def _known_preset(name: str) -> str:
    if name not in PRESET_NAMES:
        from flowlens.errors import ConfigError

        raise ConfigError(f"unknown preset '{name}'; choose one of {', '.join(PRESET_NAMES)}")
    return name


@click.group()
def generate() -> None:
    """Generate synthetic event logs with ground truth.

    \b
    Examples:
      flowlens generate bank --preset demo --seed 7 -o event_logs/bank_demo
      flowlens generate bank --preset tiny --labels zh --noise duplicates,missing_resource -o out
    """


@generate.command()
@click.option(
    "--preset",
    default="demo",
    show_default=True,
    # the names of flowlens.synth.PRESETS (a test keeps them equal), checked before the
    # generator and its libraries load, with the one-line error every user mistake gets
    callback=lambda _ctx, _param, value: _known_preset(value),
    help="tiny (~300 cases, 7 days), demo (~26k cases, 60 days) or large (~300k, a year).",
)
@seed_option(default=7)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option(
    "--labels",
    default="en",
    show_default=True,
    help="Activity labels: en or zh (Simplified Chinese in 'activity').",
)
@click.option(
    "--label-style",
    default="friendly",
    show_default=True,
    help="friendly, or bpic17 for BPIC 2017 loan activity names.",
)
@click.option(
    "--noise",
    default=None,
    metavar="KINDS",
    help="Comma list of noise kinds, or 'all' (default: none). Kinds: missing_resource, "
    "duplicates, out_of_order, bad_timestamps, clock_skew, coarse_time, "
    "completion_only, label_variants, truncate, hashed_ids.",
)
@click.option(
    "--remedies",
    default=None,
    metavar="NAMES",
    help="Counterfactuals: comma list, 'all' or 'none' (default: the preset's set).",
)
@click.option("--formats", default=None, metavar="LIST", help="parquet,csv (default; large: parquet).")
@click.option(
    "--sla",
    default="CN_CBIRC_2020",
    show_default=True,
    help="Complaint SLA preset: CN_CBIRC_2020, UK_DISP, UK_DISP_PSD, AU_RG271, US_CFPB.",
)
@click.option("--xes", is_flag=True, help="Also write events.xes.gz.")
@click.option(
    "--hide-ground-truth", is_flag=True, help="Strip the ground-truth hints from the events' attrs."
)
@click.option(
    "--jobs", default=None, type=int, help="Worker processes (default: up to 2). Results do not depend on it."
)
@json_option
def bank(
    preset: str,
    seed: int,
    out_dir: Path,
    labels: str,
    label_style: str,
    noise: str | None,
    remedies: str | None,
    formats: str | None,
    sla: str,
    xes: bool,
    hide_ground_truth: bool,
    jobs: int | None,
    as_json: bool,
) -> None:
    """Simulate a bank's account opening, loans, card disputes, complaints and service issues.

    Writes events (Parquet, CSV, XES on request), cases, customers, the ground truth of every
    injected waste, bottleneck and decoy, one counterfactual log per remedy, and a README.

    \b
    Examples:
      flowlens generate bank --preset demo --seed 7 -o event_logs/bank_demo
      flowlens generate bank --preset tiny --label-style bpic17 --json -o /tmp/tiny
    """
    from flowlens.cli.guard import guard_outputs

    # before reading anything: no output may overwrite an input
    guard_outputs(folder="out_dir")
    from flowlens.cli.progress import Progress
    from flowlens.synth import generate_bank

    command = None
    if len(sys.argv) > 3 and sys.argv[1:3] == ["generate", "bank"]:
        # Record the command for the dataset README (without options that change no file).
        args, skip = [], False
        for a in sys.argv[3:]:
            if skip:
                skip = False
                continue
            if a == "--json":
                continue
            if a == "--jobs":
                skip = True
                continue
            if a.startswith("--jobs="):
                continue
            args.append(shlex.quote(a))
        command = "flowlens generate bank " + " ".join(args)
    progress = Progress(enabled=None if not as_json else False)
    with progress.step(f"generating the {preset} bank (seed {seed})"):
        result = generate_bank(
            preset,
            seed,
            out_dir,
            labels=labels,
            label_style=label_style,
            noise=noise,
            hide_ground_truth=hide_ground_truth,
            formats=formats,
            xes=xes,
            remedies=remedies,
            sla=sla,
            command=command,
            # a fresh process: forking workers is safe here (see generate_bank)
            jobs=worker_count(jobs),
        )
    if as_json:
        d = result.to_dict()
        emit_json(
            {
                "preset": d["preset"],
                "seed": d["seed"],
                "out_dir": d["out_dir"],
                "cases": d["cases"],
                "events": d["events"],
                "total_cases": d["total_cases"],
                "total_events": d["total_events"],
                "files": d["files"],
                "ground_truth_rows": d["ground_truth_rows"],
                "noise": d["noise"],
                "remedies": {
                    k: {
                        "cases_in_scope": v["cases_in_scope"],
                        "cases_changed": v["cases_changed"],
                        "total_saving_h": v["total_saving_h"],
                    }
                    for k, v in d["remedies"].items()
                },
                "options": d["options"],
            }
        )
    else:
        click.echo(
            f"wrote {result.to_dict()['total_events']:,} events of "
            f"{result.to_dict()['total_cases']:,} cases to {out_dir}"
        )
        for p, n in result.cases.items():
            click.echo(f"  {p:<18} {n:>8,} cases {result.events.get(p, 0):>10,} events")
        click.echo(
            f"  ground truth rows {result.ground_truth_rows:,}; counterfactuals "
            f"{len(result.remedies)}; see {out_dir / 'README.md'}"
        )
