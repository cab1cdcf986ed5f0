"""``flowlens model LOG -o model.bpmn``: discover a BPMN model with a drawn diagram (and PNML)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import click

from flowlens.cli.options import emit_json, json_option, log_options
from flowlens.cli.progress import Progress
from flowlens.log import EventLog


@click.command()
@log_options
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Write the BPMN 2.0 model (with its diagram) here, e.g. model.bpmn.",
)
@click.option(
    "--noise",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="Inductive miner noise threshold: 0 keeps all behaviour, 0.2 leaves out rare paths.",
)
@click.option(
    "--pnml", "pnml_path", type=click.Path(path_type=Path), help="Also write the Petri net as PNML."
)
@click.option(
    "--png",
    "image_path",
    type=click.Path(path_type=Path),
    help="Also draw the model with Graphviz (.png, .svg or .pdf by suffix).",
)
@json_option
def model(
    read: Callable[[], EventLog],
    log_path: Path,
    out_path: Path,
    noise: float,
    pnml_path: Path | None,
    image_path: Path | None,
    as_json: bool,
) -> None:
    """Discover a BPMN model of LOG with the inductive miner and write it with a drawn diagram.

    The .bpmn file opens as a laid-out diagram in bpmn.io and Camunda Modeler. The miner
    runs on the variants, so the filters (e.g. --variants-coverage 0.8) choose what it sees.

    \b
    Examples:
      flowlens model loans.xes.gz -o loans.bpmn --noise 0.2
      flowlens model loans.xes.gz --variants-coverage 0.8 -o happy.bpmn --pnml happy.pnml --png happy.png
    """
    from flowlens.cli.guard import guard_outputs

    # before reading anything: no output may overwrite an input
    guard_outputs(files=("out_path", "pnml_path", "image_path"))
    from flowlens.discovery.bpmn import discover_bpmn, save_model_image, write_bpmn, write_pnml
    from flowlens.discovery.variants import variants

    progress = Progress(enabled=False if as_json else None)
    with progress.step(f"reading {log_path}"):
        log = read()
    started = time.perf_counter()
    with progress.step("discovering the model"):
        bpmn = discover_bpmn(log, noise_threshold=noise)
    elapsed = time.perf_counter() - started
    table = variants(log)
    outputs = {"bpmn": write_bpmn(bpmn, out_path, name=Path(str(log.source.path or log_path)).name)}
    if pnml_path is not None:
        outputs["pnml"] = write_pnml(bpmn, pnml_path)
    if image_path is not None:
        with progress.step("drawing"):
            outputs["image"] = save_model_image(bpmn, image_path)
    kinds = Counter(_kind(n) for n in bpmn.get_nodes())
    tasks = sorted({str(n.get_name()) for n in bpmn.get_nodes() if _kind(n) == "task"})
    summary = {
        "tasks": kinds["task"],
        "gateways": kinds["gateway"],
        "events": kinds["event"],
        "sequence_flows": len(bpmn.get_flows()),
    }
    if as_json:
        emit_json(
            {
                "source": log.source.path,
                "filters": list(log.filters),
                "noise_threshold": noise,
                "cases": int(table["count"].sum()),
                "variants": len(table),
                "discovery_s": elapsed,
                "model": {**summary, "activities": tasks},
                "outputs": {k: str(v) for k, v in outputs.items()},
            }
        )
        return
    click.echo(
        f"model from {int(table['count'].sum()):,} cases ({len(table):,} variants), noise {noise:g}: "
        f"{summary['tasks']} tasks, {summary['gateways']} gateways, {summary['sequence_flows']} flows"
    )
    for name, p in outputs.items():
        click.echo(f"{name:6s} {p}")


def _kind(node: object) -> str:
    names = {cls.__name__ for cls in type(node).__mro__}
    if "Gateway" in names:
        return "gateway"
    if "Event" in names:
        return "event"
    if "Activity" in names:
        return "task"
    return "other"
