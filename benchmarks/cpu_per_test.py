"""CPU seconds per test phase and per test module: a pytest plugin and its summary.

On a shared machine wall times say more about the neighbours than about the tests; CPU seconds
of the test's own process do not. The plugin adds, at each phase boundary (setup, call,
teardown), the CPU of the pytest process (or xdist worker), of its live children (the Spark
JVM) and of the children it has waited for (CLI subprocesses), and writes one line per phase to
``$CPU_PER_TEST_OUT.<worker>``. Run with it (from the repository)::

    CPU_PER_TEST_OUT=/tmp/cpu PYTHONPATH=src:benchmarks python -m pytest -p cpu_per_test
    python benchmarks/cpu_per_test.py /tmp/cpu.*          # CPU per module, largest first

A JVM's CPU counts in the phases it lives through; what it spends after its worker's last
test is not counted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Generator, Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_cpu(pid: str) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:  # the process ended meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def process_cpu() -> float:
    """CPU seconds of this process, its live children and the children it waited for.

    >>> process_cpu() > 0
    True
    """
    children: list[str] = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                children += f.read().split()
        except OSError:  # a thread ended meanwhile
            continue
    waited = os.times()
    return _stat_cpu("self") + waited.children_user + waited.children_system + sum(map(_stat_cpu, children))


def _write(nodeid: str, phase: str, cpu: float, wall: float) -> None:
    base = os.environ.get("CPU_PER_TEST_OUT", "cpu_per_test")
    # opened per line: a worker killed mid-run keeps what it measured
    with open(f"{base}.{os.environ.get('PYTEST_XDIST_WORKER', 'main')}", "a", encoding="utf-8") as out:
        out.write(f"{nodeid}\t{phase}\t{cpu:.2f}\t{wall:.2f}\n")


def _measure(phase: str) -> Callable[..., Generator[None, None, None]]:
    import pytest

    @pytest.hookimpl(hookwrapper=True)
    def hook(item: pytest.Item, *args: object) -> Generator[None, None, None]:
        cpu, wall = process_cpu(), time.perf_counter()
        yield
        _write(item.nodeid, phase, process_cpu() - cpu, time.perf_counter() - wall)

    return hook


pytest_runtest_setup = _measure("setup")
pytest_runtest_call = _measure("call")
pytest_runtest_teardown = _measure("teardown")


def per_module(lines: Iterable[str]) -> dict[str, tuple[float, float]]:
    """(CPU s, wall s) per test module from the plugin's lines, largest CPU first.

    >>> per_module(["tests/a.py::t[x]\\tsetup\\t2.00\\t3.00", "tests/a.py::u\\tcall\\t1.00\\t1.00"])
    {'tests/a.py': (3.0, 4.0)}
    """
    sums: dict[str, list[float]] = {}
    for line in lines:
        nodeid, _phase, cpu, wall = line.rstrip("\n").split("\t")
        acc = sums.setdefault(nodeid.split("::", 1)[0], [0.0, 0.0])
        acc[0] += float(cpu)
        acc[1] += float(wall)
    ranked = sorted(sums.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return {m: (round(c, 2), round(w, 2)) for m, (c, w) in ranked}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path, help="the plugin's output files (one per worker)")
    ap.add_argument("--top", type=int, default=0, help="only the N largest modules (default: all)")
    args = ap.parse_args(argv)
    lines = [line for f in args.files for line in f.read_text(encoding="utf-8").splitlines()]
    modules = per_module(lines)
    total_cpu = sum(c for c, _ in modules.values())
    print(f"# {len(lines)} phases, {len(modules)} modules, {total_cpu:.1f} CPU s in tests")
    print(f"{'CPU s':>9} {'wall s':>9}  module")
    for i, (module, (cpu, wall)) in enumerate(modules.items()):
        if args.top and i >= args.top:
            break
        print(f"{cpu:9.1f} {wall:9.1f}  {module}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
