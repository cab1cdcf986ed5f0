"""Shared fixtures: the real logs in ../shared/event_logs and small generated logs.

The shared logs must be present: tests that need them fail (never skip) when the folder is
missing, so a CI checkout without them cannot pass by accident. Point FLOWLENS_SHARED_LOGS at
another copy if the folder lives elsewhere.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]

# The Spark tests' JVM lives a few minutes on logs of a few thousand events: its CPU goes to
# compiling, not to data. Stopping at the quick JIT tier and one GC thread cuts their CPU by ~40 %
# (the ping-pong findings' parity: 89 -> 52 CPU s) and changes no result (both are JVM-only
# settings). Set before pyspark starts its gateway; a PYSPARK_SUBMIT_ARGS given outside wins.
os.environ.setdefault(
    "PYSPARK_SUBMIT_ARGS", '--driver-java-options "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" pyspark-shell'
)


#: name -> (relative path, extra read_log keyword arguments)
SHARED: dict[str, tuple[str, dict[str, object]]] = {
    "running-example": ("running-example/running-example.xes", {}),
    "receipt": ("receipt/receipt.xes.gz", {}),
    "sepsis": ("sepsis/sepsis.xes.gz", {}),
    "helpdesk": ("helpdesk/helpdesk.xes.gz", {}),
    "roadtraffic100": ("roadtraffic100/roadtraffic100traces.xes", {}),
    "bpic2012": ("bpic2012/BPI_Challenge_2012.xes.gz", {}),
    "bpic2013-incidents": (
        "bpic2013-incidents/bpic2013_incidents.xes.gz",
        {"activity": "concept:name+lifecycle:transition"},
    ),
    "bpic2013-closed-problems": (
        "bpic2013-closed-problems/bpic2013_closed_problems.xes.gz",
        {"activity": "concept:name+lifecycle:transition"},
    ),
    "bpic2012-w": ("bpic2012-w/BPIC_2012_W.csv.gz", {}),
    "bank-callcenter": ("bank-callcenter/august_calls_eventlog.csv.gz", {}),
    "loanapp-train": ("loanapp-sim/LoanApp_simplified_train.csv.gz", {}),
    "loanapp-test": ("loanapp-sim/LoanApp_simplified_test.csv.gz", {}),
    "purchasing": ("purchasing-sim/PurchasingExample.csv.gz", {}),
    "insurance-claims": ("insurance-claims-sim/Insurance_Claims_train.csv.gz", {}),
}


def load_script(path: Path) -> ModuleType:
    """A script that is no package module (a benchmark, a corpus builder), imported by path
    under its file name, so tests call its functions."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up while the script runs
    spec.loader.exec_module(module)
    return module


def shared_dir() -> Path:
    env = os.environ.get("FLOWLENS_SHARED_LOGS")
    return Path(env) if env else REPO.parent / "shared" / "event_logs"


@pytest.fixture(scope="session")
def shared_logs() -> Path:
    d = shared_dir()
    if not d.is_dir():
        pytest.fail(
            f"the shared event logs are missing: expected them in {d} "
            "(set FLOWLENS_SHARED_LOGS to their folder)"
        )
    return d


def shared_path(name: str) -> Path:
    d = shared_dir()
    p = d / SHARED[name][0]
    if not p.exists():
        pytest.fail(f"shared log {name} is missing: expected {p}")
    return p


@pytest.fixture(scope="session")
def tiny_bank_seed5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated tiny bank (seed 5, no remedies, Parquet): its folder, read only.

    Four modules (journeys, segments, the Chinese report, the call continuation) each read it;
    generated once per xdist worker, not once per module (the generator is deterministic, so
    every module sees the same files it generated itself before)."""
    from flowlens.synth import generate_bank

    out = tmp_path_factory.mktemp("bank_tiny_seed5")
    generate_bank("tiny", seed=5, out_dir=out, remedies="none", formats=("parquet",))
    return out


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command line in-process: (exit status, stdout, stderr)."""
    from flowlens.cli import main as cli_main

    capsys.readouterr()
    try:
        cli_main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


# -- parallel runs (pytest-xdist, --dist loadscope) ----------------------------------------------
#
# With loadscope a work unit (a module, or a class) runs whole on one worker, so its module
# fixtures are computed once. Two more things decide the wall time on CI's two workers: a session
# fixture is computed once per worker that needs it, and the suite ends when the worker holding the
# last long unit finishes. Hence the two lists below; both are only scheduling: every test runs,
# in the same process as its fixtures, whatever they hold.

#: Folders whose modules are one work unit: their session fixtures (tests/findings: the seed-11
#: bank demo generated, its time model and every detector run on it; tests/synth: the tiny bank
#: with every remedy) are computed once, not on both workers.
ONE_UNIT_FOLDERS = ("tests/findings/", "tests/synth/")

#: The units with the longest chains of fixtures and tests, longest first (CI durations, load 2.5:
#: the Spark module ~250 s, tests/findings ~150 s, the what-if tests ~130 s, the small truth table
#: ~80 s, ...). They start first, so that short units fill the end of both workers' time (longest
#: processing time first); xdist would order units by their number of tests. A unit not listed
#: still runs; a stale entry only costs time.
LONG_UNITS = (
    "tests/test_engine_parity.py",
    "tests/findings/",
    "tests/test_whatif.py",
    "tests/test_whatif_truth.py",
    "tests/test_pseudonyms.py",
    "tests/test_waiting_truth.py",
    "tests/test_report_zh.py",
    "tests/test_simulation_bank.py",
    "tests/synth/",
    "tests/test_report_browser.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Under ``--dist loadscope``: :data:`ONE_UNIT_FOLDERS` as one unit each, :data:`LONG_UNITS`
    first. Other ``--dist`` modes are xdist's own."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LongestFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            folder = next((f for f in ONE_UNIT_FOLDERS if nodeid.startswith(f)), None)
            return folder or super()._split_scope(nodeid)

        def _assign_work_unit(self, node: object) -> None:
            for unit in reversed(LONG_UNITS):
                if unit in self.workqueue:
                    self.workqueue.move_to_end(unit, last=False)
            super()._assign_work_unit(node)  # type: ignore[arg-type]

    return LongestFirst(config, log)  # type: ignore[arg-type]
