"""The ``flowlens`` command line: a thin layer over the library.

Commands are registered by name and imported only when run, so ``flowlens --help`` answers
without loading the engines or pm4py. User mistakes (:class:`~flowlens.errors.FlowlensError`)
print one line on stderr and exit with status 2; out of memory or disk one line and status 3;
Ctrl-C ``flowlens: interrupted`` and status 130.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from flowlens import __version__

# name -> (module, function, one-line help). Keep the help here so --help needs no imports.
# fmt: off
COMMANDS: dict[str, tuple[str, str, str]] = {
    "inspect": ("flowlens.cli.inspect_cmd", "inspect", "Read a log: summary and data-quality counts."),
    "analyze": ("flowlens.cli.analyze_cmd", "analyze", "Write the HTML report, results.json and quarantine.csv."),
    "generate": ("flowlens.cli.generate_cmd", "generate", "Generate synthetic event logs with ground truth."),
    "map": ("flowlens.cli.map_cmd", "map_", "Draw the process map (frequency or time view) or print it as JSON."),
    "variants": ("flowlens.cli.variants_cmd", "variants", "List variants with share, coverage and lead times."),
    "model": ("flowlens.cli.model_cmd", "model", "Discover a BPMN model (drawn diagram) with the inductive miner; also PNML."),
    "conformance": ("flowlens.cli.conformance_cmd", "conformance", "Check a log against a designed process (BPMN or PNML): fitness, deviations."),
    "waiting": ("flowlens.cli.waiting_cmd", "waiting", "Why cases wait: waiting split into causes, with the CTE gain of removing each."),
    "bottlenecks": ("flowlens.cli.bottlenecks_cmd", "bottlenecks", "Where customers wait, ranked by total waiting per activity, transition, resource or team; utilisation."),
    "sla": ("flowlens.cli.sla_cmd", "sla", "Deadline (SLA) compliance under regulatory presets or custom rules; complaint categories."),
    "journeys": ("flowlens.cli.journeys_cmd", "journeys", "The customer's view: issues across cases, contacts, channel switches, transfers, FCR."),
    "segments": ("flowlens.cli.segments_cmd", "segments", "Compare headline metrics across segments, channels or products, with bootstrap CIs."),
    "drivers": ("flowlens.cli.drivers_cmd", "drivers", "Which case attributes and behaviours go with long lead times (effect sizes, CIs)."),
    "findings": ("flowlens.cli.findings_cmd", "findings", "Redundant steps found and priced: rework, repeated checks, no-effect approvals, ... ranked by customer time."),
    "fit": ("flowlens.cli.fit_cmd", "fit", "Learn a simulation model (JSON) from a log: arrivals, routing, durations, delays, pools."),
    "simulate": ("flowlens.cli.simulate_cmd", "simulate", "Run a simulation model (or a log, fitted first) into simulated event logs."),
    "fidelity": ("flowlens.cli.fidelity_cmd", "fidelity", "Fit on the first 80 % of a log, simulate the rest, score it: can its what-ifs be trusted?"),
    "optimize": ("flowlens.cli.optimize_cmd", "optimize", "Candidate changes (findings' remedies, staff, hours, batching) simulated and ranked by customer time saved, with CIs."),
    "whatif": ("flowlens.cli.whatif_cmd", "whatif", "What scenarios (remove, automate, merge, add staff, ...) would save, with 95 % CIs from paired replications."),
}
# fmt: on


#: Options that name a file the command reads. Each one given is checked, like LOG, before the
#: command runs (before pandas or an engine is imported), so a mistyped path answers at once.
INPUT_FILE_OPTIONS = frozenset(
    {
        "--mapping",
        "--cases",
        "--case-table",
        "--model",
        "--rule",
        "--sla-rule",
        "--groups",
        "--test-log",
        "--calendar",
        "--other-work",
        "--allow",
        "--scenario",
    }
)


def check_input_files(cmd: click.Command) -> click.Command:
    """Make ``cmd`` check the files its input options name before its body runs."""
    names = {
        p.name: next(o for o in p.opts if o in INPUT_FILE_OPTIONS)
        for p in cmd.params
        if isinstance(p, click.Option) and isinstance(p.type, click.Path) and INPUT_FILE_OPTIONS & set(p.opts)
    }
    inner = cmd.callback
    if not names or inner is None or getattr(inner, "_flowlens_checked", False):
        return cmd

    def callback(*args: Any, **kwargs: Any) -> Any:
        for name, option in names.items():
            value = kwargs.get(name)
            for path in value if isinstance(value, tuple | list) else (value,):
                if path is not None:
                    _readable_input(option, str(path))
        return inner(*args, **kwargs)

    callback._flowlens_checked = True  # type: ignore[attr-defined]
    cmd.callback = callback
    return cmd


def _readable_input(option: str, path: str) -> None:
    """Raise the error the command itself would give later for a missing input file (the same
    words; only sooner), or a generic one."""
    import os

    if os.path.exists(path) and not os.path.isdir(path):
        return
    from flowlens.errors import ConfigError, InputError

    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a folder, expected a file")
    missing = "No such file or directory"
    if option == "--model":
        raise InputError(f"{path}: no such model file", hint="give the path of a .bpmn or .pnml file")
    if option == "--scenario":
        raise ConfigError(f"{path}: no such scenario file")
    if option in ("--cases", "--case-table"):
        raise InputError(
            f"case table {path} not found", hint="give a CSV or Parquet file with one row per case"
        )
    if option == "--calendar":
        raise ConfigError(f"cannot read calendar file {path}: {missing}")
    if option in ("--rule", "--sla-rule"):
        raise ConfigError(f"cannot read SLA rule file {path}: {missing}")
    if option == "--mapping":
        raise ConfigError(f"cannot read mapping file {path}: {missing}")
    if option == "--other-work":
        raise InputError(
            f"--other-work: {path}: no such file",
            hint="name its columns case_id, activity, resource, start_time, end_time",
        )
    raise InputError(f"{option} {path}: no such file")


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        cmd: click.Command = getattr(importlib.import_module(module), attr)
        return check_input_files(cmd)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            # Before click turns it into Abort (after printing an empty line on stderr).
            from flowlens.errors import RunInterrupted

            raise RunInterrupted() from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing needs only the short help, so no command module is imported for --help.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="flowlens")
def cli() -> None:
    """flowlens: turn service event logs into process maps, waiting causes and savings.

    \b
    Examples:
      flowlens inspect event_logs/bank_demo/events.parquet
      flowlens analyze event_logs/bank_demo/events.parquet -o reports/bank_demo
    """


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``flowlens`` script and ``python -m flowlens``.

    User mistakes, running out of memory or disk, and Ctrl-C end the run with one line on
    stderr and a non-zero status (2 for a user error, 3 out of memory or disk, 130 interrupted);
    Ctrl-C stops running DuckDB queries at once (:mod:`flowlens.interrupts`).
    """
    from flowlens.errors import FlowlensError, RunInterrupted
    from flowlens.interrupts import classify, handling_interrupts, report_interrupted

    with handling_interrupts():
        try:
            return cli.main(args=argv, prog_name="flowlens", standalone_mode=False)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            report_interrupted()
            sys.exit(130)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except (SystemExit, GeneratorExit):
            raise
        except BaseException as exc:
            error = classify(exc)
            if error is None and isinstance(exc, FlowlensError):
                error = exc
            if error is None:
                raise  # a bug in flowlens: keep the traceback
            if isinstance(error, RunInterrupted):
                report_interrupted()
            else:
                click.echo(f"flowlens: error: {error.one_line()}", err=True)
            sys.exit(error.exit_code)
