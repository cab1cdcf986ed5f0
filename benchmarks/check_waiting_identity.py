"""Digests of every result of ``waiting_causes`` on shared logs, to check a speed change changed none.

Runs ``flowlens waiting LOG`` (the command's own reading, time model, calendars and other work;
the logs and options are :data:`check_real_logs.LOGS`, the demo without ``--cases`` and
``--sla``, which the command does not take) with ``waiting_causes`` wrapped to keep its result,
and prints one SHA-256 per log of the whole result: every instance's five causes (sorted by
eid), the batches, the batch members, each resource's calendar, :meth:`overall` and :meth:`by`
at every level. Run it with two ``src/`` trees and compare the lines (``diff``). Each log's CPU
seconds are printed beside it.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/check_waiting_identity.py > after.txt
    PYTHONPATH=/tmp/ref/src .venv/bin/python benchmarks/check_waiting_identity.py > before.txt
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_real_logs import LOGS

DEFAULT_LOGS = ("demo", "helpdesk", "bank-callcenter", "bpic2012-w", "sepsis")
NOT_TAKEN = ("--cases", "--sla")


def command_args(name: str) -> list[str]:
    """``LOGS[name]`` without the options ``flowlens waiting`` does not take (and their values)."""
    args, out, skip = LOGS[name], [], False
    for a in args:
        if skip:
            skip = False
        elif a in NOT_TAKEN:
            skip = True
        else:
            out.append(a)
    return out


def digest(analysis: Any) -> str:
    """SHA-256 of everything ``analysis`` holds that later steps read."""
    h = hashlib.sha256()
    per = analysis.per_instance.to_pandas().sort_values("eid").reset_index(drop=True)
    h.update(per.to_csv(index=False).encode())
    h.update(analysis.batches.to_csv(index=False).encode())
    if analysis.batch_members is not None:
        m = analysis.batch_members.to_pandas().sort_values("eid").reset_index(drop=True)
        h.update(m.to_csv(index=False).encode())
    h.update(json.dumps(sorted((str(k), v) for k, v in analysis.resource_calendars.items())).encode())
    h.update(json.dumps(analysis.overall(), sort_keys=True, default=str).encode())
    from flowlens.analysis.waiting import LEVELS

    for level in LEVELS:
        h.update(analysis.by(level).to_csv().encode())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="*", default=list(DEFAULT_LOGS), help=f"some of: {', '.join(LOGS)}")
    args = ap.parse_args()

    import flowlens.analysis.waiting as waiting_module
    from flowlens.cli.waiting_cmd import waiting

    original = waiting_module.waiting_causes
    kept: list[Any] = []
    cpu: list[float] = []

    def keep(*a: Any, **k: Any) -> Any:
        c0 = time.process_time()
        out = original(*a, **k)
        cpu.append(time.process_time() - c0)
        kept.append(out)
        return out

    waiting_module.waiting_causes = keep  # type: ignore[assignment]
    for name in args.logs:
        kept.clear()
        cpu.clear()
        with contextlib.redirect_stdout(io.StringIO()):  # the command's own JSON
            waiting.main([*command_args(name), "--json"], standalone_mode=False)
        line = f"{name} {digest(kept[0])}"
        print(f"{line} waiting_causes CPU {cpu[0]:.2f} s", file=sys.stderr, flush=True)
        print(line, flush=True)


if __name__ == "__main__":
    main()
