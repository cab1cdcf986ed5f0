"""Each person's hours per group, and which groups the fit splits into shifts (issue 12,
methods §16.2 "Shifts").

Per log: the fit's observations (``observe``), its groups (people who do the same steps), and
per person of a group of two or more their starts, the hours of day their core hours cover
(:func:`flowlens.simulation.shifts.core_hours`: the hour-of-week cells holding 90 % of their
starts, shown by hour of day, local) and their shift when the group is split
(``observe``'s ``shift_cal_of``: the rule, and each shift's calendar holding 80 % of its starts).
Logs: the shared real logs with resources (``tests/conftest.py`` ``SHARED``) and the bank
demo's processes (``bank_demo:PROCESS``, one process a log, as ``whatif_truth.py`` fits them;
Asia/Shanghai).

    PYTHONPATH=src .venv/bin/python benchmarks/shift_profiles.py                  # every log
    PYTHONPATH=src .venv/bin/python benchmarks/shift_profiles.py bank_demo:service_issue

Each log runs in its own process (``--one NAME``), so a big one's memory is given back.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

#: The real logs with resources and a span long enough for calendars (≥ 14 days).
REAL = (
    "bpic2012",
    "bpic2012-w",
    "bpic2013-incidents",
    "bpic2013-closed-problems",
    "bank-callcenter",
    "loanapp-train",
    "purchasing",
    "insurance-claims",
    "helpdesk",
    "receipt",
)
DEMO = tuple(
    f"bank_demo:{p}"
    for p in ("account_opening", "loan_application", "card_dispute", "complaint", "service_issue")
)
#: People listed per group at most (every person of a group split into shifts).
SHOWN = 12


def one(name: str) -> str:
    """The groups of log ``name`` with two people or more, each person's hours and shift."""
    import pandas as pd

    import flowlens
    from conftest import SHARED, shared_path
    from flowlens.errors import EmptyLogError
    from flowlens.simulation.fit import observe
    from flowlens.simulation.shifts import describe

    t = time.process_time()
    if name.startswith("bank_demo:"):
        events = pd.read_parquet(REPO / "event_logs" / "bank_demo" / "events.parquet")
        log = flowlens.read_log(events[events.process == name.split(":", 1)[1]], tz="Asia/Shanghai")
    else:
        kw = SHARED[name][1]
        log = flowlens.read_log(shared_path(name), flowlens.ColumnMap(**kw) if kw else None)
    try:
        obs = observe(log)
    except EmptyLogError as exc:
        return f"{name}: not fitted ({exc})"
    inst = obs.inst[obs.inst.resource.isin(list(obs.groups))]
    work = pd.DataFrame({"resource": inst.resource.astype(str), "s_us": inst.s_us})
    rows = pd.DataFrame(describe(work, obs.groups, obs.timezone))
    lines = []
    split = 0
    if len(rows):
        for acts, g in rows.groupby("group", sort=False):
            if len(g) < 2:
                continue
            kinds = sorted({obs.shift_cal_of[p] for p in g.person if p in obs.shift_cal_of})
            split += bool(kinds)
            head = " | ".join(acts)[:90]
            lines.append(
                f"  group [{head}] {len(g)} people, {int(g.starts.sum())} starts; shifts: {len(kinds) or '-'}"
            )
            shown = len(g) if kinds else SHOWN
            for r in g.sort_values(["shift", "person"], na_position="first").head(shown).itertuples():
                cal = obs.shift_cal_of.get(r.person, "")
                s = f"shift {int(r.shift)} ({cal})" if cal else ""
                lines.append(f"    {r.person:<24} {r.starts:>7} starts  hours {r.hours:<28} {s}")
            if len(g) > shown:
                lines.append(f"    ... {len(g) - shown} more")
    cpu = time.process_time() - t
    return (
        f"{name}: {len(obs.groups)} people in {rows.group.nunique() if len(rows) else 0} groups; "
        f"groups split into shifts: {split}; {cpu:.1f} CPU s\n" + "\n".join(lines)
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"logs (default all: {', '.join(REAL + DEMO)})")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(one(args.one), flush=True)
        return 0
    for name in args.names or [*REAL, *DEMO]:
        subprocess.run([sys.executable, __file__, "--one", name], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
