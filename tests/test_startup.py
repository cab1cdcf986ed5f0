"""Start-up: a user error (missing file, unknown option or value) is answered before pandas, Ibis
or DuckDB is imported, for every command (issue 14: the answer within half a second).

Each case runs in a fresh interpreter and reports which heavy modules were loaded when the
error was raised; timing is not asserted (a shared machine makes it noisy), the imports are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowlens.cli import COMMANDS, INPUT_FILE_OPTIONS

HEAVY = ("pandas", "duckdb", "ibis", "pyarrow", "numpy", "pm4py", "pyspark")

#: Runs every case in one interpreter, in order, and reports after each which heavy modules
#: are loaded: the first case that loads one is the culprit (later ones would see it too).
_PROBE = """
import io, json, sys
from contextlib import redirect_stderr, redirect_stdout
from flowlens.cli import main
out = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    code = None
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code
    heavy = sorted(m for m in HEAVY if m in sys.modules)
    out.append({"code": code, "heavy": heavy, "err": err.getvalue()})
print(json.dumps(out))
"""


MISSING = "/nonexistent/flowlens/log.csv"
NO_FILE = "/nonexistent/flowlens/file.toml"

#: What each command needs besides LOG to reach its reading (required options).
REQUIRED: dict[str, list[str]] = {
    "analyze": ["-o", "{tmp}/report"],
    "conformance": ["--model", "{ok}"],
    "fit": ["-o", "{tmp}/model.json"],
    "model": ["-o", "{tmp}/model.bpmn"],
    "segments": ["--by", "channel"],
    "simulate": ["-o", "{tmp}/sim"],
    "sla": ["--preset", "UK_DISP"],
    "map": ["--json"],
    "whatif": ["--scenario", "{ok}"],
}


def _probe(cases: list[list[str]]) -> list[dict]:  # type: ignore[type-arg]
    code = f"HEAVY = {HEAVY!r}\n" + _PROBE
    p = subprocess.run(
        [sys.executable, "-c", code, json.dumps(cases)], capture_output=True, text=True, check=True
    )
    return json.loads(p.stdout)


def _cases(tmp: Path) -> list[tuple[str, list[str], str]]:
    ok = tmp / "ok.toml"
    ok.write_text("")
    log = tmp / "log.csv"
    log.write_text("case,activity,time\n1,a,2024-01-01 09:00\n")

    def fill(args: list[str]) -> list[str]:
        return [a.format(tmp=tmp, ok=ok) for a in args]

    cases: list[tuple[str, list[str], str]] = []
    for cmd in sorted(COMMANDS):
        if cmd == "generate":
            cases.append((cmd, ["generate", "bank", "--preset", "nope", "-o", str(tmp / "g")], "nope"))
            cases.append((cmd, ["generate", "bank", "--no-such-option"], "no-such-option"))
            continue
        req = fill(REQUIRED.get(cmd, []))
        cases.append((cmd, [cmd, MISSING, *req], "no such file"))
        cases.append((cmd, [cmd, str(log), *req, "--no-such-option"], "no-such-option"))
    # simulate's argument is a model or a log: a missing model file is named as one
    sim = ["simulate", "/nonexistent/flowlens/model.json", *fill(REQUIRED["simulate"])]
    cases.append(("simulate", sim, "model.json: no such model file"))
    # every option that names an input file, on every command that has it
    import click

    from flowlens.cli import LazyGroup, cli

    group = cli if isinstance(cli, LazyGroup) else None
    assert group is not None
    ctx = click.Context(group)
    for cmd in sorted(COMMANDS):
        command = group.get_command(ctx, cmd)
        assert command is not None
        for param in command.params:
            flags = INPUT_FILE_OPTIONS & set(getattr(param, "opts", []))
            if not flags or not isinstance(param.type, click.Path):
                continue
            flag = sorted(flags)[0]
            req = [a for a in fill(REQUIRED.get(cmd, [])) if a != flag]
            if flag in REQUIRED.get(cmd, []):
                i = REQUIRED[cmd].index(flag)
                req = fill(REQUIRED[cmd][:i] + REQUIRED[cmd][i + 2 :])
            cases.append((cmd, [cmd, str(log), *req, flag, NO_FILE], NO_FILE))
    return cases


def test_user_errors_answer_before_heavy_imports(tmp_path: Path) -> None:
    cases = _cases(tmp_path)
    results = _probe([args for _, args, _ in cases])
    bad = []
    for (_, args, expect), r in zip(cases, results, strict=True):
        if r["code"] != 2 or r["heavy"] or expect not in r["err"]:
            bad.append(f"{' '.join(args)}: exit {r['code']}, imported {r['heavy']}, said {r['err'][-160:]!r}")
    assert not bad, "\n".join(bad)
    assert len(cases) > 2 * len(COMMANDS)


def test_generate_presets_named_in_the_cli_are_the_generators() -> None:
    from flowlens.cli.generate_cmd import PRESET_NAMES
    from flowlens.synth import PRESETS

    assert set(PRESET_NAMES) == set(PRESETS)


@pytest.mark.parametrize("name", ["log.csv", "log.parquet"])
def test_missing_log_in_the_library_loads_no_engine(name: str) -> None:
    code = (
        "import sys, flowlens\n"
        "from flowlens.errors import InputError\n"
        "try:\n"
        f"    flowlens.read_log('/nonexistent/{name}')\n"
        "except InputError as exc:\n"
        "    print(exc)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert "no such file" in lines[0]
    assert lines[-1] == "[]"
