"""``flowlens analyze LOG -o DIR``: the report, its numbers and the quarantine, in one folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from flowlens.cli.options import (
    TimeOptions,
    allow_option,
    emit_json,
    json_option,
    lang_option,
    log_options,
    other_work_option,
    process_option,
    seed_option,
    time_options,
    worker_count,
)
from flowlens.cli.progress import Progress
from flowlens.log import EventLog


@click.command()
@log_options
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for report.html, results.json and quarantine.csv.",
)
@click.option("--title", help="Report title (default: from the file name).")
@click.option(
    "--list-variants",
    "top_variants",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Variants listed in the report.",
)
@click.option(
    "--cases",
    "cases_file",
    type=click.Path(path_type=Path),
    help="A per-case table (CSV or Parquet, e.g. the generator's cases.parquet) whose columns are "
    "added to every case: segment, product, reason, ...",
)
@time_options
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    help="Designed process (BPMN or PNML) to check conformance against.",
)
@click.option(
    "--sla",
    multiple=True,
    metavar="PRESET",
    help="Deadline preset to check (repeatable); see `flowlens sla --list-presets`.",
)
@click.option(
    "--sla-rule",
    "sla_rules",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Deadline rule file (TOML/JSON).",
)
@click.option(
    "--segment-by",
    multiple=True,
    metavar="COLUMN",
    help="Case attribute to compare groups on (repeatable; default: detected segment/channel/product).",
)
@allow_option
@seed_option
@click.option(
    "--resamples",
    default=1000,
    show_default=True,
    type=click.IntRange(100, 100_000),
    help="Bootstrap resamples for confidence intervals.",
)
@click.option(
    "--quick", is_flag=True, help="Only summary, data quality, map and variants (no time-model analyses)."
)
@click.option(
    "--domain",
    type=click.Choice(["auto", "bank", "generic"]),
    default="auto",
    show_default=True,
    help="The organisation's domain for the report's wording (auto: banking when the log names banking "
    "work such as Open Account, AML, loan; otherwise neutral words).",
)
@click.option(
    "--simulate/--no-simulate",
    default=None,
    help="Add 'Can the simulation be trusted?': a simulation model fitted on the first 80 % of the "
    "cases, 3 logs of the other 20 % simulated and scored against them, a verdict per part (as "
    "flowlens fidelity --k 3). Off by default: it adds a model fit, the simulations and their "
    "scoring (on the 26,000-case bank demo about 140 s more, longer than the rest of the report).",
)
@click.option(
    "--scenario",
    "scenario_files",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="A what-if scenario (TOML or JSON, docs/methods.md 17.1; repeatable): adds 'What a simpler "
    "process would save', the scenarios ranked by the customer time they save with 95 % CIs, as "
    "flowlens whatif computes them (implies --simulate; costs a fit of the whole log and 10 to 100 "
    "paired replications of every scenario).",
)
@click.option(
    "--replications",
    type=click.IntRange(min=2),
    default=None,
    help="With --scenario: run exactly this many paired replications of every scenario (fewer: "
    "faster, wider intervals) [default: until the precision is reached, 10 to 100].",
)
@click.option(
    "--pdf",
    is_flag=True,
    help="Also write report.pdf, printed by headless Chromium (each section on a new page, the map "
    "on its own page). Needs Chromium (apt-get install chromium).",
)
@click.option(
    "--png",
    is_flag=True,
    help="Also write every chart as figures/NAME.png (besides figures/NAME.svg), rasterised by headless "
    "Chromium. Needs Chromium.",
)
@click.option(
    "--screenshots",
    is_flag=True,
    help="Also write screenshots/first-screen.png, map.png and recommendations.png: the report's first "
    "1400x900 screen, its map and its recommendations as a browser shows them, by headless Chromium. "
    "Needs Chromium.",
)
@other_work_option
@process_option
@lang_option
@json_option
def analyze(
    read: Callable[[], EventLog],
    other_work: Callable[[EventLog], EventLog | None],
    log_path: Path,
    out_dir: Path,
    title: str | None,
    top_variants: int,
    cases_file: Path | None,
    time_opts: TimeOptions,
    model_path: Path | None,
    sla: tuple[str, ...],
    sla_rules: tuple[Path, ...],
    segment_by: tuple[str, ...],
    allow_file: Path | None,
    seed: int,
    resamples: int,
    quick: bool,
    domain: str,
    simulate: bool | None,
    scenario_files: tuple[Path, ...],
    replications: int | None,
    process: str | None,
    lang: str,
    as_json: bool,
    pdf: bool = False,
    png: bool = False,
    screenshots: bool = False,
) -> None:
    """Analyse LOG and write DIR/report.html, DIR/results.json, DIR/report.md, DIR/figures/ and
    DIR/quarantine.csv (with --pdf also DIR/report.pdf, with --screenshots DIR/screenshots/).

    The report is one self-contained HTML file that opens offline: summary, data quality,
    process map, variants, why cases wait, bottlenecks, redundant steps, the customer's view, segments,
    slow-case drivers, and, when asked, conformance to a designed process, deadlines, whether a
    simulation of the process can be trusted (--simulate) and what scenarios would save (--scenario).
    The same numbers are in results.json; rows the data-quality gate set aside are in
    quarantine.csv. Same inputs and seed, same report.

    \b
    Example:
      flowlens analyze event_logs/bank_demo/events.parquet --cases event_logs/bank_demo/cases.parquet \\
          --other-work event_logs/bank_demo/background_events.parquet --sla CN_NFRA_2020 -o reports/bank_demo
    """
    from flowlens.analysis.sla import get_preset
    from flowlens.cli.guard import REPORT_FILES, guard_outputs
    from flowlens.findings.allowlist import AllowList
    from flowlens.i18n import _, language
    from flowlens.io.writers import write_quarantine
    from flowlens.outputs import output_folder
    from flowlens.report.build import ReportOptions, build_report, failed_sections
    from flowlens.simulation.scenarios import Scenario

    # before reading anything: no output may overwrite an input
    inputs = guard_outputs(folder="out_dir", folder_files=REPORT_FILES)
    for name in sla:  # fail on a misspelt preset before the long part
        get_preset(name)
    if pdf or png or screenshots:  # a missing browser is found now, not after the analysis
        from flowlens.report.pdf import browser_option, find_chromium

        find_chromium(browser_option(pdf=pdf, png=png))
    if scenario_files and simulate is False:
        raise click.UsageError("--scenario needs the simulation: drop --no-simulate")
    # read and checked before the log: a typo in a scenario file costs no analysis
    scenarios = [Scenario.from_file(p) for p in scenario_files]
    cals = time_opts.calendars()
    allow = AllowList.from_file(allow_file) if allow_file else None
    if model_path is not None:
        from flowlens.discovery.bpmn import read_model

        read_model(model_path)
    # Locked and staged from the start: a second run into the same folder stops now, not after
    # the analysis; the folder shows the old or the new report, never a mix (flowlens.outputs).
    with output_folder(out_dir, kind="report", keep=inputs) as out:
        progress = Progress(enabled=False if as_json else None)
        with progress.step(f"reading {log_path}"):
            log = read()
            if cases_file is not None:
                from flowlens.io.cases import add_case_attributes

                log = add_case_attributes(log, cases_file)
        options = ReportOptions(
            title=title,
            seed=seed,
            top_variants=top_variants,
            deep=not quick,
            calendars=cals,
            team=time_opts.team,
            clock_stop=time_opts.stop(),
            model_path=model_path,
            sla=sla,
            sla_rules=sla_rules,
            segment_by=segment_by,
            resamples=resamples,
            allow=allow,
            other_work=other_work(log),
            process=process,
            domain=domain,
            simulate=bool(simulate) or bool(scenarios),
            scenarios=scenarios,
            whatif_replications=replications,
            jobs=worker_count(None),
            lang=lang,
            command=_command_line(),
            inputs=[str(p) for p in (cases_file, *scenario_files, allow_file) if p is not None],
        )
        with progress.step("analysing"):
            report = build_report(log, options)
        with language(lang):  # the section names and reasons are the report's
            for name, reason in failed_sections(report, localized=True):
                click.echo(
                    _("flowlens: warning: section '{name}' {reason}").format(name=name, reason=reason),
                    err=True,
                )
        with progress.step("writing report"):
            paths = report.write(out.path, pdf=pdf, png=png, screenshots=screenshots)
            paths["quarantine"] = write_quarantine(log, out.path / "quarantine.csv")
    paths = {k: out.final(v) for k, v in paths.items()}
    if as_json:
        emit_json(
            {
                "outputs": {k: str(v) for k, v in paths.items()},
                "sections": [s.id for s in report.sections],
                "summary": log.summary().to_dict(),
                "quality": log.quality.to_dict(),
            }
        )
    else:
        for name, p in paths.items():
            click.echo(f"{name:10s} {p}")


def _command_line() -> str | None:
    """The command as typed, for the report's appendix (None when not run from the shell, as
    under a test runner): the pseudonym key is never written (``***``), and the output folder
    is ``DIR`` so that the same analysis written elsewhere gives the same report."""
    import shlex
    import sys

    if Path(sys.argv[0]).name not in ("flowlens", "__main__.py"):
        return None
    hidden = {"--pseudonym-key": "***", "-o": "DIR", "--out": "DIR"}
    args: list[str] = []
    argv = sys.argv[1:]
    i = 0
    while i < len(argv):
        a = argv[i]
        name = a.split("=", 1)[0]
        if name in hidden and "=" in a:
            args.append(f"{name}={hidden[name]}")
        elif a in hidden and i + 1 < len(argv):
            args += [a, hidden[a]]
            i += 1
        elif a.startswith("-o") and len(a) > 2 and not a.startswith("--"):
            args.append("-oDIR")
        else:
            args.append(a)
        i += 1
    return shlex.join(["flowlens", *args])
