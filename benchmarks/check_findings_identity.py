"""Check that ``flowlens findings --json`` is byte-identical to a reference revision's.

With ``--command analyze``, ``flowlens analyze LOG -o DIR --json`` instead: its stdout,
``DIR/results.json``, ``DIR/report.html`` and ``DIR/report.md`` (both runs write to the same DIR
under ``--cache``, so the paths they print agree).

Detector changes made for speed must not change a finding. This script extracts ``src/`` as it
is at ``--ref`` (default ``main``; ``git archive``, so the working tree is not touched), runs
``flowlens findings LOG --json`` with it and with the working tree's ``src/`` on the same logs,
and compares the bytes. The logs and their options are :data:`check_real_logs.LOGS` (the
bank demo with the time-model options of the README's ``analyze``: time zone, cases,
calendars, other work), or a log's path (read with the default options); the default set is
the five the issue-14 checks use. The reference's
output is kept in ``--cache`` under the reference's commit, so a second check reruns only the
working tree. Each run's CPU seconds (user + system, every thread, from ``os.wait4``) are
printed beside it: on a shared machine a steadier measure than wall time.

Exit status 0 when every log's findings are identical.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/check_findings_identity.py
    PYTHONPATH=src .venv/bin/python benchmarks/check_findings_identity.py --ref main sepsis demo
    PYTHONPATH=src .venv/bin/python benchmarks/check_findings_identity.py --command analyze purchasing
    PYTHONPATH=src .venv/bin/python benchmarks/check_findings_identity.py --command analyze /tmp/stages_1e6_seed42.parquet
    cp -r src /tmp/snap && .venv/bin/python benchmarks/check_findings_identity.py --src /tmp/snap
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from check_real_logs import LOGS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LOGS = ("demo", "bpic2012", "bank-callcenter", "bpic2013-incidents", "sepsis")
#: analyze options that ``findings`` does not take (with their value)
NOT_FINDINGS = ("--sla",)


def log_args(name: str) -> list[str]:
    """``check_real_logs.LOGS[name]``, or ``[name]`` for a log's path."""
    if name not in LOGS and Path(name).is_file():
        return [name]
    return LOGS[name]


def findings_args(name: str) -> list[str]:
    """:func:`log_args` without the options ``findings`` does not take."""
    out, skip = [], False
    for a in log_args(name):
        if skip:
            skip = False
        elif a in NOT_FINDINGS:
            skip = True
        else:
            out.append(a)
    return out


def run(src: Path, args: list[str], out: Path, report: Path | None = None) -> tuple[float, int]:
    """``flowlens findings ARGS --json`` with ``src`` first on the path, stdout to ``out``; CPU
    seconds and exit code. With ``report``: ``flowlens analyze ARGS -o REPORT --json``, and
    its ``results.json``, ``report.html`` and ``report.md`` appended to ``out``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "flowlens", "findings", *args, "--json"]
    if report is not None:
        shutil.rmtree(report, ignore_errors=True)
        cmd = [sys.executable, "-m", "flowlens", "analyze", *args, "-o", str(report), "--json"]
    with out.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.PIPE, cwd=REPO, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0 and proc.stderr is not None:
        print(proc.stderr.read().decode(errors="replace")[-2000:], file=sys.stderr)
    if report is not None and code == 0:
        with out.open("ab") as fh:
            for name in ("results.json", "report.html", "report.md"):
                fh.write((report / name).read_bytes())
    return usage.ru_utime + usage.ru_stime, code


def ref_src(ref: str, folder: Path) -> tuple[str, Path]:
    """The commit of ``ref`` and its ``src/`` extracted under ``folder``."""
    sha = subprocess.run(
        ["git", "rev-parse", ref], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = folder / f"src-{sha[:12]}"
    if not (dest / "src").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "src"], cwd=REPO, capture_output=True, check=True)
        with tempfile.TemporaryFile() as fh:
            fh.write(archive.stdout)
            fh.seek(0)
            with tarfile.open(fileobj=fh) as tar:
                tar.extractall(dest, filter="data")
    return sha, dest / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "logs", nargs="*", default=list(DEFAULT_LOGS), help=f"some of: {', '.join(LOGS)}; or a log's path"
    )
    ap.add_argument("--ref", default="main", help="the reference revision (default main)")
    ap.add_argument(
        "--src",
        type=Path,
        default=REPO / "src",
        help="the source to check (default the working tree's; a copy keeps a long check from "
        "reading files being edited)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "flowlens_findings_identity",
        help="where the reference's src and outputs are kept",
    )
    ap.add_argument(
        "--command",
        choices=["findings", "analyze"],
        default="findings",
        help="the command whose output is compared (default findings)",
    )
    a = ap.parse_args()
    sha, src_ref = ref_src(a.ref, a.cache)
    ok = True
    for name in a.logs:
        analyze = a.command == "analyze"
        args = log_args(name) if analyze else findings_args(name)
        key = name if name in LOGS else Path(name).name  # a path: its file name
        report = a.cache / f"analyze-{key}" if analyze else None
        ref_out = a.cache / f"{sha[:12]}-{key}{'-analyze' if analyze else ''}.json"
        ref_cpu = None
        if not ref_out.exists():
            tmp = ref_out.with_suffix(".part")
            ref_cpu, code = run(src_ref, args, tmp, report)
            if code != 0:
                print(json.dumps({"log": name, "error": f"reference exit {code}"}), flush=True)
                ok = False
                continue
            tmp.rename(ref_out)
        with tempfile.TemporaryDirectory(prefix=f"findings-{key}-") as d:
            new_out = Path(d) / "findings.json"
            cpu, code = run(a.src.resolve(), args, new_out, report)
            same = code == 0 and new_out.read_bytes() == ref_out.read_bytes()
        ok &= same
        row = {"log": name, "command": a.command, "identical": same, "cpu_s": round(cpu, 1), "ref": sha[:12]}
        if ref_cpu is not None:
            row["ref_cpu_s"] = round(ref_cpu, 1)
        print(json.dumps(row), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
