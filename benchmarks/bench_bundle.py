"""The analytics bundle, flowlens against pm4py, side by side (issue 2, item 8).

The *bundle* (../shared/docs/anchors.md): read the log; directly-follows pairs with count and
mean/median waiting time; variants with counts; case durations.

    .venv/bin/python benchmarks/bench_bundle.py                      # 1e5, 1e6, 1e7; both formats
    .venv/bin/python benchmarks/bench_bundle.py --sizes 1e5,1e6 --formats parquet --repeat 5
    .venv/bin/python benchmarks/bench_bundle.py --sizes 1e6 --json > result.json

Every measurement runs in a fresh subprocess, so import state, caches and peak memory are per
tool and per run; the peak resident set size of each child comes from ``os.wait4`` (the
child's own ``ru_maxrss``, unlike ``RUSAGE_CHILDREN``, which keeps the maximum over all children
waited for so far). Imports are done before the clock starts (flowlens: duckdb, ibis with its DuckDB
backend, and the flowlens modules the bundle runs; pm4py: the module itself, which loads all of
its own) and reported apart. The first run of each (size, format) also
writes a digest of the results, and the parent checks that both tools computed the same thing:
directly-follows counts, variant counts, start/end activities and case durations equal,
and mean/median waits equal to within 1 ms.

Logs are synthetic (``generate``): 36 activities, about 16 events per case with rework loops,
start and end times, 100 resources, rows in order of end time like an extract; deterministic by
seed, written to ``benchmarks/data/`` (git-ignored) and reused while their parameters match.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
RESULTS_DIR = HERE / "results"
GENERATOR_VERSION = 1
TOOLS = ("flowlens", "pm4py")
#: The row of ``--baseline-src``: flowlens from another src/ folder.
BASELINE = "baseline"
FORMATS = ("parquet", "csv")
WAIT_TOLERANCE_S = 1e-3

# --------------------------------------------------------------------------------------------
# Synthetic logs
# --------------------------------------------------------------------------------------------

ACTIVITIES = (
    # trunk: 0-5
    "Receive request (online)",
    "Receive request (branch)",
    "Register case",
    "Check identity",
    "Request documents",
    "Classify request",
    # branch "loan": 6-11
    "Loan: assess",
    "Loan: credit check",
    "Loan: manual credit review",
    "Loan: valuation",
    "Loan: approve",
    "Loan: escalate approval",
    # branch "account": 12-17
    "Account: assess",
    "Account: KYC screening",
    "Account: enhanced due diligence",
    "Account: set up",
    "Account: activate",
    "Account: senior sign-off",
    # branch "dispute": 18-23
    "Dispute: assess",
    "Dispute: gather evidence",
    "Dispute: merchant response",
    "Dispute: decide",
    "Dispute: refund",
    "Dispute: reject with reason",
    # closing: 24-35
    "Prepare decision letter",
    "Send letter by email",
    "Send letter by post",
    "Quality check",
    "Archive documents",
    "Archive with exception",
    "Update core system",
    "Notify customer (SMS)",
    "Notify customer (app)",
    "Collect feedback",
    "Close case",
    "Close case (administrative)",
)
N_RESOURCES = 100
#: A stage: (alternative activities, their probabilities (a shortfall from 1 skips the stage),
#: probability of going back one stage afterwards (rework)).
_TRUNK = [([0, 1], [0.93, 0.07], 0.0), ([2], [1.0], 0.0), ([3, 4], [0.8, 0.2], 0.07), ([5], [1.0], 0.0)]
_CLOSING = [
    ([24], [1.0], 0.0),
    ([25, 26], [0.8, 0.2], 0.0),
    ([27], [0.9], 0.08),
    ([28, 29], [0.9, 0.1], 0.0),
    ([30], [1.0], 0.0),
    ([31, 32], [0.65, 0.33], 0.05),
    ([33], [1.0], 0.0),
    ([34, 35], [0.97, 0.03], 0.0),
]
_BRANCH_P = (0.5, 0.3, 0.2)
_ABANDON_P = 0.0015  # per step: the case stops early (an open or withdrawn case)
_MEAN_LEN = 16.36  # measured mean events per case of this model
_START = "2024-01-01T00:00:00"
_SPAN_S = 365 * 86400  # case arrivals spread over one year
_MODEL_SEED = 20240101  # fixes per-activity times and resource pools; not the data seed


def _branch(a: int) -> list[tuple[list[int], list[float], float]]:
    return [
        ([a], [1.0], 0.0),
        ([a + 1, a + 2], [0.88, 0.12], 0.10),
        ([a + 3], [0.95], 0.0),
        ([a + 4, a + 5], [0.9, 0.1], 0.05),
    ]


def _model() -> dict[str, Any]:
    """Stage tables per branch plus per-activity timing and resource pools (fixed)."""
    import numpy as np

    paths = [_TRUNK + _branch(6 + 6 * b) + _CLOSING for b in range(3)]
    n_stages = len(paths[0])
    acts = np.full((3, n_stages, 3), -1, np.int16)
    cum = np.ones((3, n_stages, 3))
    loop = np.zeros((3, n_stages))
    for b, stages in enumerate(paths):
        for k, (alts, probs, back) in enumerate(stages):
            acts[b, k, : len(alts)] = alts
            c = np.cumsum(probs)
            cum[b, k, : len(c)] = c
            loop[b, k] = back
    rng = np.random.default_rng(_MODEL_SEED)
    n_act = len(ACTIVITIES)
    pool_start = rng.integers(0, N_RESOURCES, n_act)
    return {
        "acts": acts,
        "cum": cum,
        "loop": loop,
        "n_stages": n_stages,
        # mean wait before an activity starts: 5 min to 1 day (log-uniform)
        "wait_mean_s": np.exp(rng.uniform(math.log(300), math.log(86400), n_act)),
        # median processing time: 2 min to 2 h, lognormal sigma 0.8
        "proc_median_s": np.exp(rng.uniform(math.log(120), math.log(7200), n_act)),
        # each activity is done by a pool of 10 consecutive resources (mod 100)
        "pools": (pool_start[:, None] + np.arange(10)[None, :]) % N_RESOURCES,
    }


def _sequences(rng: Any, n_cases: int, model: dict[str, Any]) -> tuple[Any, Any]:
    """Activity sequences of ``n_cases`` cases: a padded (cases x 64) int16 matrix and lengths.

    Vectorised over cases; the loop runs over steps (at most a few dozen), never over events.
    """
    import numpy as np

    max_len = 64
    acts, cum, loop, n_stages = model["acts"], model["cum"], model["loop"], model["n_stages"]
    seq = np.full((n_cases, max_len), -1, np.int16)
    lens = np.zeros(n_cases, np.int64)
    branch = np.searchsorted(np.cumsum(_BRANCH_P), rng.random(n_cases), side="right")
    alive = np.arange(n_cases)
    stage = np.zeros(n_cases, np.int64)
    while alive.size:
        b = branch[alive]
        pick = (rng.random(alive.size)[:, None] > cum[b, stage]).sum(axis=1)
        act = acts[b, stage, np.minimum(pick, 2)]
        done = act >= 0
        rows = alive[done]
        seq[rows, lens[rows]] = act[done]
        lens[rows] += 1
        back = (rng.random(alive.size) < loop[b, stage]) & done
        stage = np.where(back, stage - 1, stage + 1)
        abandon = rng.random(alive.size) < _ABANDON_P
        keep = (stage < n_stages) & ~abandon & (lens[alive] < max_len)
        alive, stage = alive[keep], stage[keep]
    return seq, lens


def generate_arrays(n_events: int, seed: int) -> dict[str, Any]:
    """Exactly ``n_events`` events as numpy arrays, rows in order of end time."""
    import numpy as np

    model = _model()
    rng = np.random.default_rng(seed)
    n_try = int(n_events / _MEAN_LEN * 1.1) + 100
    seq, lens = _sequences(rng, n_try, model)
    lens = lens[lens > 0]
    seq = seq[: lens.size]
    total = np.cumsum(lens)
    if total[-1] < n_events:  # pragma: no cover - the margin is ample
        raise RuntimeError("generator margin too small")
    n_cases = int(np.searchsorted(total, n_events) + 1)
    lens = lens[:n_cases].copy()
    lens[-1] -= int(total[n_cases - 1] - n_events)  # the last case is cut to fit exactly
    seq = seq[:n_cases]
    mask = np.arange(seq.shape[1])[None, :] < lens[:, None]
    act = seq[mask].astype(np.int16)  # case-major, in position order
    case = np.repeat(np.arange(n_cases, dtype=np.int64), lens)

    arrival = np.sort(rng.integers(0, _SPAN_S, n_cases))
    wait = np.rint(rng.exponential(model["wait_mean_s"][act])).astype(np.int64)
    proc = np.rint(model["proc_median_s"][act] * rng.lognormal(0.0, 0.8, act.size))
    proc = np.maximum(proc, 1).astype(np.int64)
    step = wait + proc
    csum = np.cumsum(step)
    first = np.concatenate(([0], np.cumsum(lens)[:-1]))
    within = csum - np.repeat(csum[first] - step[first], lens)
    end = arrival[case] + within
    start = end - proc
    pool_pick = rng.integers(0, model["pools"].shape[1], act.size)
    res = model["pools"][act, pool_pick]

    order = np.lexsort((case, end))  # extract order: by end time, then case
    return {
        "case": case[order],
        "act": act[order],
        "res": res[order],
        "start": start[order],
        "end": end[order],
        "n_cases": n_cases,
    }


def _arrow_table(arr: dict[str, Any], *, for_csv: bool) -> Any:
    import numpy as np
    import pyarrow as pa

    def labels(codes: Any, names: list[str]) -> Any:
        dictionary = pa.array(names, pa.string())
        return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary).cast(pa.string())

    width = len(str(arr["n_cases"]))
    case_ids = [f"C{i:0{width}d}" for i in range(arr["n_cases"])]
    base = np.datetime64(_START, "s").astype(np.int64)
    unit = "s" if for_csv else "us"
    scale = 1 if for_csv else 1_000_000

    def ts(v: Any) -> Any:
        return pa.array((v + base) * scale, pa.timestamp(unit))

    return pa.table(
        {
            "case_id": labels(arr["case"], case_ids),
            "activity": labels(arr["act"], list(ACTIVITIES)),
            "resource": labels(arr["res"], [f"R{i + 1:03d}" for i in range(N_RESOURCES)]),
            "start_time": ts(arr["start"]),
            "end_time": ts(arr["end"]),
        }
    )


def data_path(n_events: int, seed: int, fmt: str, data_dir: Path) -> Path:
    return data_dir / f"bundle_{size_label(n_events)}_seed{seed}.{fmt}"


def _meta(n_events: int, seed: int, fmt: str) -> dict[str, Any]:
    return {
        "generator_version": GENERATOR_VERSION,
        "events": n_events,
        "seed": seed,
        "format": fmt,
        "activities": len(ACTIVITIES),
        "resources": N_RESOURCES,
    }


def ensure_data(n_events: int, seed: int, formats: list[str], data_dir: Path) -> dict[str, Path]:
    """The log files for one size, generated only where missing or made with other parameters."""
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {f: data_path(n_events, seed, f, data_dir) for f in formats}
    missing = []
    for fmt, path in paths.items():
        meta_path = path.with_name(path.name + ".meta.json")
        ok = path.exists() and meta_path.exists()
        if ok:
            meta = json.loads(meta_path.read_text())
            ok = {k: meta.get(k) for k in _meta(n_events, seed, fmt)} == _meta(n_events, seed, fmt)
        if not ok:
            missing.append(fmt)
    if not missing:
        return paths
    # Generate in a child so that the parent stays small while children are measured.
    t0 = time.perf_counter()
    log(f"generating {size_label(n_events)} events ({', '.join(missing)}) ...")
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_generate",
        "--events",
        str(n_events),
        "--seed",
        str(seed),
        "--formats",
        ",".join(missing),
        "--data-dir",
        str(data_dir),
    ]
    subprocess.run(cmd, check=True)
    log(f"  generated in {time.perf_counter() - t0:.1f} s")
    return paths


def write_logs(n_events: int, seed: int, formats: list[str], data_dir: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    arr = generate_arrays(n_events, seed)
    for fmt in formats:
        path = data_path(n_events, seed, fmt, data_dir)
        tmp = path.with_name(path.name + ".tmp")
        table = _arrow_table(arr, for_csv=fmt == "csv")
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
        tmp.replace(path)
        meta = _meta(n_events, seed, fmt) | {"cases": arr["n_cases"], "bytes": path.stat().st_size}
        path.with_name(path.name + ".meta.json").write_text(json.dumps(meta, indent=1))


# --------------------------------------------------------------------------------------------
# The bundle, one tool per child process
# --------------------------------------------------------------------------------------------

COLUMNS = {"case": "case_id", "activity": "activity", "start": "start_time", "end": "end_time"}


class Clock:
    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = now - self._t
        self._t = now


def _map_bundle() -> bool:
    """``--bundle map``: read + process map (directly-follows counts and times) + variants,
    against pm4py's read + format_dataframe + discover_dfg + get_variants (issue 4)."""
    return os.environ.get("FLOWLENS_BENCH_BUNDLE") == "map"


def run_flowlens(path: Path, fmt: str) -> tuple[dict[str, float], Any]:
    import flowlens

    clock = Clock()
    log_ = flowlens.read_log(path)
    clock.lap("read_log")
    if _map_bundle():
        from flowlens.discovery.abstraction import process_map

        g = process_map(log_)
        clock.lap("process_map")
        v = flowlens.variants(log_)
        clock.lap("variants")
        return clock.steps, (g, v, None)
    g = flowlens.directly_follows(log_)
    clock.lap("directly_follows")
    v = flowlens.variants(log_)
    clock.lap("variants")
    cd = flowlens.case_durations(log_)
    clock.lap("case_durations")
    return clock.steps, (g, v, cd)


def run_pm4py(path: Path, fmt: str) -> tuple[dict[str, float], Any]:
    import pandas as pd

    from flowlens.pm4py_bridge import pm4py as _pm4py

    pm4py = _pm4py()
    clock = Clock()
    df = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    clock.lap("read")
    df = pm4py.format_dataframe(
        df,
        case_id=COLUMNS["case"],
        activity_key=COLUMNS["activity"],
        timestamp_key=COLUMNS["end"],
        start_timestamp_key=COLUMNS["start"],
    )
    clock.lap("format_dataframe")
    dfg, starts, ends = pm4py.discover_dfg(df)
    clock.lap("discover_dfg")
    if _map_bundle():
        var = pm4py.get_variants(df)
        clock.lap("get_variants")
        return clock.steps, (dfg, starts, ends, None, var, None)
    # "all" gives mean and median (and min/max/sum/stdev) in one pass: cheaper than two calls.
    perf, _, _ = pm4py.discover_performance_dfg(df, perf_aggregation_key="all")
    clock.lap("discover_performance_dfg")
    var = pm4py.get_variants(df)
    clock.lap("get_variants")
    # pm4py.get_all_case_durations raises KeyError: 'start_timestamp' after format_dataframe with
    # start_timestamp_key (anchors.md), so durations (first start to last end) are a groupby.
    grp = df.groupby("case:concept:name", sort=False)
    dur = (grp["time:timestamp"].max() - grp["start_timestamp"].min()).dt.total_seconds()
    clock.lap("case_durations")
    return clock.steps, (dfg, starts, ends, perf, var, dur)


def _durations_digest(case_ids: Any, seconds: Any) -> dict[str, Any]:
    import pandas as pd

    s = pd.Series(seconds.to_numpy(dtype="float64"), index=pd.Index(case_ids, dtype="str"))
    s = s.sort_index()
    text = "\n".join(f"{c},{round(d)}" for c, d in zip(s.index, s.to_numpy(), strict=True))
    return {
        "cases": int(s.size),
        "sum_s": float(s.sum()),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


def digest_flowlens(res: Any) -> dict[str, Any]:
    g, v, cd = res
    e = g.edges
    return {
        "dfg": {f"{s}\t{t}": int(c) for s, t, c in zip(e.source, e.target, e["count"], strict=True)},
        "waits": {
            f"{s}\t{t}": [float(m), float(md)]
            for s, t, m, md in zip(e.source, e.target, e.wait_mean_s, e.wait_median_s, strict=True)
        },
        "starts": {
            a: int(c) for a, c in zip(g.start_activities.activity, g.start_activities["count"], strict=True)
        },
        "ends": {
            a: int(c) for a, c in zip(g.end_activities.activity, g.end_activities["count"], strict=True)
        },
        "variants": {"\t".join(k): int(c) for k, c in zip(v.variant, v["count"], strict=True)},
        "durations": _durations_digest(cd.case_id, cd.lead_time_s) if cd is not None else None,
    }


def digest_pm4py(res: Any) -> dict[str, Any]:
    dfg, starts, ends, perf, var, dur = res
    return {
        "dfg": {f"{s}\t{t}": int(c) for (s, t), c in dfg.items()},
        "waits": {f"{s}\t{t}": [float(m["mean"]), float(m["median"])] for (s, t), m in perf.items()}
        if perf is not None
        else None,
        "starts": {str(a): int(c) for a, c in starts.items()},
        "ends": {str(a): int(c) for a, c in ends.items()},
        "variants": {"\t".join(k): int(c) for k, c in var.items()},
        "durations": _durations_digest(dur.index, dur) if dur is not None else None,
    }


def child_main(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    if args.tool == "flowlens":
        import duckdb  # noqa: F401

        # Every module the bundle runs, as pm4py's import loads all of pm4py: the Ibis DuckDB
        # backend (with every SQL dialect Ibis ships, ~0.1 CPU s) is loaded on first use, which
        # otherwise fell inside flowlens's clock but outside pm4py's.
        import ibis.backends.duckdb  # noqa: F401

        import flowlens.discovery.cases
        import flowlens.discovery.dfg
        import flowlens.discovery.variants
        import flowlens.io
        import flowlens.io.gate
        import flowlens.io.profile
        import flowlens.io.readers
        import flowlens.log  # noqa: F401

        run, digest = run_flowlens, digest_flowlens
    else:
        import pandas  # noqa: F401

        from flowlens.pm4py_bridge import pm4py

        pm4py()
        run, digest = run_pm4py, digest_pm4py
    import_s = time.perf_counter() - t0
    rss_after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t1 = time.perf_counter()
    steps, res = run(Path(args.path), args.format)
    total = time.perf_counter() - t1
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    out: dict[str, Any] = {
        "tool": args.tool,
        "seconds": total,
        "cpu_s": cpu,
        "steps": steps,
        "import_s": import_s,
        "rss_after_import_kb": rss_after_import,
        "rss_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "flowlens_file": sys.modules["flowlens"].__file__,
    }
    if args.digest:
        out["digest"] = digest(res)
    Path(args.result).write_text(json.dumps(out))


# --------------------------------------------------------------------------------------------
# The parent: orchestration, agreement, report
# --------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def size_label(n: int) -> str:
    e = round(math.log10(n)) if n > 0 else 0
    return f"1e{e}" if 10**e == n else str(n)


@dataclass
class Cell:
    size: int
    fmt: str
    tool: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    digest: dict[str, Any] | None = None
    error: str | None = None

    @property
    def seconds(self) -> list[float]:
        return [r["seconds"] for r in self.runs]

    @property
    def peak_mb(self) -> list[float]:
        return [r["peak_rss_kb"] / 1024 for r in self.runs]


def run_child(
    tool: str,
    path: Path,
    fmt: str,
    *,
    digest: bool,
    timeout: float | None,
    workdir: Path,
    flowlens_src: str | None = None,
) -> dict[str, Any]:
    """One measurement in a fresh interpreter; peak RSS from ``os.wait4`` for that child only."""
    result = workdir / f"{tool}-{fmt}-{path.stem}.json"
    result.unlink(missing_ok=True)
    errlog = workdir / f"{tool}-{fmt}-{path.stem}.log"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_child",
        "--tool",
        tool,
        "--path",
        str(path),
        "--format",
        fmt,
        "--result",
        str(result),
    ]
    if digest:
        cmd.append("--digest")
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with errlog.open("w") as err:
        env = dict(os.environ)
        if flowlens_src:  # a frozen copy of src/, ahead of the editable install
            env["PYTHONPATH"] = os.pathsep.join([flowlens_src, *filter(None, [env.get("PYTHONPATH")])])
        proc = subprocess.Popen(cmd, stdout=err, stderr=err, env=env)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout and time.perf_counter() - t0 > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not result.exists():
        tail = errlog.read_text(errors="replace").strip().splitlines()[-5:]
        why = "timed out" if timeout and wall > timeout else f"exit {proc.returncode}"
        raise RuntimeError(f"{tool} on {path.name}: {why}: " + " | ".join(tail))
    out = json.loads(result.read_text())
    out["peak_rss_kb"] = usage.ru_maxrss
    out["wall_s"] = wall
    out["loadavg_1min_before"] = load
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Agreement of two digests: exact for counts and durations, 1 ms for waits."""
    checks: dict[str, Any] = {}
    for key in ("dfg", "starts", "ends", "variants"):
        same = a[key] == b[key]
        checks[key] = {"equal": same, "n": len(a[key])}
        if not same:
            diff = sorted(set(a[key].items()) ^ set(b[key].items()))[:5]
            checks[key]["examples"] = [list(d) for d in diff]
    checks["durations"] = {
        "equal": a["durations"] == b["durations"],
        "cases": (a["durations"] or {}).get("cases"),
    }
    worst = 0.0
    if a["waits"] is None or b["waits"] is None:
        checks["waits"] = {"equal": True, "skipped": "not in this bundle"}
    elif a["waits"].keys() == b["waits"].keys():
        for k, (m1, md1) in a["waits"].items():
            m2, md2 = b["waits"][k]
            worst = max(worst, abs(m1 - m2), abs(md1 - md2))
        checks["waits"] = {"equal": worst <= WAIT_TOLERANCE_S, "max_abs_diff_s": worst}
    else:
        checks["waits"] = {"equal": False, "max_abs_diff_s": None}
    checks["all_equal"] = all(c["equal"] for c in checks.values() if isinstance(c, dict))
    return checks


def environment(flowlens_src: str | None = None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    vers = {}
    for pkg in ("flowlens", "pm4py", "pandas", "duckdb", "ibis-framework", "numpy", "pyarrow"):
        try:
            vers[pkg] = version(pkg)
        except PackageNotFoundError:
            vers[pkg] = None
    try:
        rev = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(HERE), "status", "--porcelain", "--", "../src"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        rev, dirty = "", ""
    if flowlens_src:
        label = Path(flowlens_src).joinpath("..", "SNAPSHOT").resolve()
        rev = label.read_text().strip() if label.exists() else f"src at {flowlens_src}"
    elif dirty:
        rev += " + uncommitted changes in src/"
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_gb, 1),
        "git": rev,
        "versions": vers,
        "platform": platform.platform(),
    }


def _med(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _cpu_ratio(a: Cell, b: Cell | None) -> float | None:
    """Median CPU seconds of ``a`` over those of ``b``."""
    if b is None or not a.runs or not b.runs:
        return None
    return _med([r["cpu_s"] for r in a.runs]) / _med([r["cpu_s"] for r in b.runs])  # type: ignore[operator]


def summarise(cells: list[Cell], agreement: dict[tuple[int, str], Any], args: Any) -> dict:
    rows = []
    by_key = {(c.size, c.fmt, c.tool): c for c in cells}
    for c in cells:
        med = _med(c.seconds)
        # on the pm4py row: pm4py over flowlens; on the baseline row: pm4py over the baseline
        num, den = (c, by_key.get((c.size, c.fmt, "flowlens"))) if c.tool == "pm4py" else (None, None)
        if c.tool == BASELINE:
            num, den = by_key.get((c.size, c.fmt, "pm4py")), c
        ratio = cpu_ratio = None
        if num and den and num.seconds and den.seconds:
            ratio = _med(num.seconds) / _med(den.seconds)  # type: ignore[operator]
            cpu_ratio = _med([r["cpu_s"] for r in num.runs]) / _med(  # type: ignore[operator]
                [r["cpu_s"] for r in den.runs]
            )
        steps: dict[str, float] = {}
        if c.runs:
            for name in c.runs[0]["steps"]:
                steps[name] = statistics.median(r["steps"][name] for r in c.runs)
        rows.append(
            {
                "events": c.size,
                "size": size_label(c.size),
                "format": c.fmt,
                "tool": c.tool,
                "median_s": med,
                "min_s": min(c.seconds, default=None),
                "cpu_median_s": _med([r["cpu_s"] for r in c.runs]),
                "loadavg_median": _med([r["loadavg_1min_before"] for r in c.runs]),
                "max_s": max(c.seconds, default=None),
                "runs_s": c.seconds,
                "peak_rss_mb": _med(c.peak_mb),
                "peak_rss_mb_max": max(c.peak_mb, default=None),
                "import_s": _med([r["import_s"] for r in c.runs]),
                "rss_after_import_mb": _med([r["rss_after_import_kb"] / 1024 for r in c.runs]),
                "steps_median_s": steps,
                "ratio_pm4py_over_flowlens": ratio,
                "cpu_ratio_pm4py_over_flowlens": cpu_ratio,
                "cpu_ratio_baseline_over_flowlens": _cpu_ratio(c, by_key.get((c.size, c.fmt, "flowlens")))
                if c.tool == BASELINE
                else None,
                "error": c.error,
                "flowlens_file": c.runs[0].get("flowlens_file") if c.runs else None,
            }
        )
    agree = [{"events": s, "size": size_label(s), "format": f, **v} for (s, f), v in agreement.items()]
    return {
        "benchmark": "bundle",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "repeat": args.repeat,
        "seed": args.seed,
        "environment": environment(args.flowlens_src),
        "results": rows,
        "agreement": agree,
    }


def print_table(summary: dict[str, Any], file: Any) -> None:
    head = (
        f"{'events':>7} {'format':<8} {'tool':<9} {'median s':>9} {'min-max s':>15} "
        f"{'CPU s':>8} {'peak RSS':>9} {'pm4py/flowlens':>15} {'(CPU)':>6} {'load':>5}"
    )
    print(head, file=file)
    print("-" * len(head), file=file)
    for r in summary["results"]:
        if r["error"]:
            print(f"{r['size']:>7} {r['format']:<8} {r['tool']:<9}  ERROR {r['error']}", file=file)
            continue
        ratio = f"{r['ratio_pm4py_over_flowlens']:.2f}x" if r["ratio_pm4py_over_flowlens"] else ""
        cratio = r["cpu_ratio_pm4py_over_flowlens"]
        cratio = f"{cratio:.2f}x" if cratio else ""
        span = f"{r['min_s']:.2f}-{r['max_s']:.2f}"
        print(
            f"{r['size']:>7} {r['format']:<8} {r['tool']:<9} {r['median_s']:>9.2f} {span:>15} "
            f"{r['cpu_median_s']:>8.2f} {r['peak_rss_mb']:>6.0f} MB {ratio:>15} {cratio:>6} "
            f"{r['loadavg_median']:>5.1f}",
            file=file,
        )
    print("\nsteps (median s):", file=file)
    for r in summary["results"]:
        if r["steps_median_s"]:
            s = "  ".join(f"{k} {v:.2f}" for k, v in r["steps_median_s"].items())
            print(
                f"  {r['size']:>5} {r['format']:<8} {r['tool']:<9} {s}   "
                f"(import {r['import_s']:.2f} s, RSS after import "
                f"{r['rss_after_import_mb']:.0f} MB)",
                file=file,
            )
    for r in summary["results"]:
        if r.get("cpu_ratio_baseline_over_flowlens"):
            print(
                f"  {r['size']:>5} {r['format']:<8} baseline CPU / flowlens CPU: "
                f"{r['cpu_ratio_baseline_over_flowlens']:.3f}",
                file=file,
            )
    for b in summary.get("baseline_identical", []):
        verdict = "identical" if b["identical"] else "DIFFERENT"
        print(f"  {b['size']:>5} {b['format']:<8} flowlens and baseline results: {verdict}", file=file)
    print("\nagreement (flowlens vs pm4py):", file=file)
    for a in summary["agreement"]:
        if "all_equal" not in a:
            print(f"  {a['size']:>5} {a['format']:<8} {a.get('note', '')}", file=file)
            continue
        parts = [
            f"{k} {'=' if a[k]['equal'] else 'DIFFER'}"
            for k in ("dfg", "starts", "ends", "variants", "durations")
        ]
        w = a["waits"].get("max_abs_diff_s")
        if "skipped" in a["waits"]:
            parts.append("waits not in this bundle")
        else:
            parts.append(f"waits max |diff| {w:.2g} s" if w is not None else "waits DIFFER")
        verdict = "AGREE" if a["all_equal"] else "DISAGREE"
        print(
            f"  {a['size']:>5} {a['format']:<8} {verdict}: {', '.join(parts)} "
            f"({a['dfg']['n']} DF pairs, {a['variants']['n']} variants, "
            f"{a['durations']['cases']} cases)",
            file=file,
        )
    env = summary["environment"]
    print(
        f"\n{env['cpus']} CPUs, {env['memory_gib']} GiB; python {env['python']}; "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
        + f"; git {env['git']}; repeat {summary['repeat']}",
        file=file,
    )


def parse_list(text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if allowed:
        bad = [t for t in items if t not in allowed]
        if bad:
            raise SystemExit(f"unknown value(s) {bad}; choose from {', '.join(allowed)}")
    return items


def parent_main(args: argparse.Namespace) -> int:
    if args.bundle == "map":
        os.environ["FLOWLENS_BENCH_BUNDLE"] = "map"  # the children inherit it
    sizes = [int(float(s)) for s in parse_list(args.sizes)]
    formats = parse_list(args.formats, FORMATS)
    tools = parse_list(args.tools, TOOLS)
    if args.baseline_src:
        # flowlens from another src/ folder, run in turn with the others (A/B under one load)
        tools.append(BASELINE)
    data_dir = Path(args.data_dir)
    cells: list[Cell] = []
    agreement: dict[tuple[int, str], Any] = {}
    baseline_same: dict[tuple[int, str], bool] = {}
    workdir = Path(tempfile.mkdtemp(prefix="flowlens-bench-"))
    for n in sizes:
        paths = ensure_data(n, args.seed, formats, data_dir)
        if args.generate_only:
            continue
        for fmt in formats:
            row = {t: Cell(n, fmt, t) for t in tools}
            cells.extend(row.values())
            for rep in range(args.repeat):
                order = tools if rep % 2 == 0 else tools[::-1]  # alternate who goes first
                for tool in order:
                    cell = row[tool]
                    if cell.error:
                        continue
                    try:
                        out = run_child(
                            "flowlens" if tool == BASELINE else tool,
                            paths[fmt],
                            fmt,
                            digest=rep == 0 and not args.no_check,
                            timeout=args.timeout,
                            workdir=workdir,
                            flowlens_src=args.baseline_src if tool == BASELINE else args.flowlens_src,
                        )
                    except RuntimeError as exc:
                        cell.error = str(exc)
                        log(f"  {exc}")
                        continue
                    if "digest" in out:
                        cell.digest = out.pop("digest")
                    cell.runs.append(out)
                    log(
                        f"  {size_label(n):>5} {fmt:<8} {tool:<9} run {rep + 1}/{args.repeat}: "
                        f"{out['seconds']:.2f} s, peak {out['peak_rss_kb'] / 1024:.0f} MB"
                    )
            digests = {t: c.digest for t, c in row.items() if c.digest is not None}
            if BASELINE in digests and "flowlens" in digests:
                same = digests.pop(BASELINE) == digests["flowlens"]
                baseline_same[(n, fmt)] = same
                log(
                    f"  flowlens vs baseline {size_label(n)} {fmt}: {'IDENTICAL' if same else 'DIFFERENT'} results"
                )
            if len(digests) == 2:
                agreement[(n, fmt)] = compare(digests["flowlens"], digests["pm4py"])
                a = agreement[(n, fmt)]
                verdict = "AGREE" if a["all_equal"] else "DISAGREE"
                log(f"  agreement {size_label(n)} {fmt}: {verdict}")
            elif not args.no_check:
                agreement[(n, fmt)] = {"note": "not checked (a tool failed or was not run)"}
            for c in row.values():
                c.digest = None  # large; not kept in the output
    if args.generate_only:
        return 0
    summary = summarise(cells, agreement, args)
    summary["baseline_identical"] = [
        {"events": n, "size": size_label(n), "format": f, "identical": same}
        for (n, f), same in baseline_same.items()
    ]
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = Path(args.out) if args.out else RESULTS_DIR / f"bundle-{stamp}.json"
    out_path.write_text(json.dumps(summary, indent=1))
    if args.json:
        print(json.dumps(summary, indent=1))
        print_table(summary, sys.stderr)
    else:
        print_table(summary, sys.stdout)
    log(f"\nresults written to {out_path}")
    failed = (
        any(c.error for c in cells)
        or any(not a.get("all_equal", True) for a in agreement.values())
        or not all(baseline_same.values())
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        p = argparse.ArgumentParser(prog="bench_bundle.py _child")
        p.add_argument("--tool", choices=TOOLS, required=True)
        p.add_argument("--path", required=True)
        p.add_argument("--format", choices=FORMATS, required=True)
        p.add_argument("--result", required=True)
        p.add_argument("--digest", action="store_true")
        child_main(p.parse_args(argv[1:]))
        return 0
    if argv and argv[0] == "_generate":
        p = argparse.ArgumentParser(prog="bench_bundle.py _generate")
        p.add_argument("--events", type=int, required=True)
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--formats", required=True)
        p.add_argument("--data-dir", required=True)
        a = p.parse_args(argv[1:])
        write_logs(a.events, a.seed, parse_list(a.formats, FORMATS), Path(a.data_dir))
        return 0
    p = argparse.ArgumentParser(
        description="Time the analytics bundle (read, directly-follows with mean/median waits, "
        "variants, case durations) for flowlens and pm4py side by side."
    )
    p.add_argument(
        "--sizes", default="1e5,1e6,1e7", help="comma-separated event counts (default 1e5,1e6,1e7)"
    )
    p.add_argument("--formats", default="parquet,csv", help="parquet, csv or both (default both)")
    p.add_argument("--tools", default="flowlens,pm4py", help="default flowlens,pm4py")
    p.add_argument(
        "--bundle",
        choices=("full", "map"),
        default="full",
        help="full: read, DFG with waits, variants, durations; map: read, map counts, variants",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    p.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    p.add_argument("--data-dir", default=str(DATA_DIR), help="where logs are kept")
    p.add_argument("--timeout", type=float, default=None, help="seconds per child run")
    p.add_argument(
        "--json", action="store_true", help="print the results as JSON on stdout (the table goes to stderr)"
    )
    p.add_argument("--out", help="also write the JSON here (default benchmarks/results/...)")
    p.add_argument("--no-check", action="store_true", help="skip the agreement check")
    p.add_argument("--generate-only", action="store_true", help="only make the logs")
    p.add_argument(
        "--flowlens-src",
        help="run flowlens from this src/ folder (a frozen copy, "
        "e.g. from `git archive`), not the editable install",
    )
    p.add_argument(
        "--baseline-src",
        help="also run flowlens from this src/ folder (row 'baseline'), in turn with the others: "
        "an A/B under the same load, with its results checked identical to flowlens's",
    )
    args = p.parse_args(argv)
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
