"""The flowlens stages at 10^6, 10^7 and 10^8 generated events, side by side (issue 14).

    .venv/bin/python benchmarks/bench_stages.py                                   # 1e6, 1e7; 3 runs each
    .venv/bin/python benchmarks/bench_stages.py --sizes 1e8 --repeat 1 --memory-limit 6GB --kill-above 9GB
    .venv/bin/python benchmarks/bench_stages.py --sizes 1e7 --engine spark --repeat 1   # the same on Spark
    .venv/bin/python benchmarks/bench_stages.py --sizes 1e6 --trace-collects 100000  # what comes to Python
    .venv/bin/python benchmarks/bench_stages.py --sizes 1e7 --memory-limit 600MB --sample-spill 0.5  # what spills
    .venv/bin/python benchmarks/bench_stages.py --sizes 1e6 --analyze --list-tables   # what stays
    .venv/bin/python benchmarks/bench_stages.py generate --events 1e8               # only the data
    .venv/bin/python benchmarks/bench_stages.py --log bank.parquet --stages read,time_model,waiting,findings

Stages, in the order ``flowlens analyze`` runs them and sharing their inputs as it does: read
(reader and data-quality gate), map (directly-follows graph), variants, time model, waiting causes
(the split and its per-transition and per-activity tables), bottlenecks, findings
(``find_wastes`` with the time model and waiting split already built). ``--analyze`` runs the
command ``flowlens analyze LOG -o DIR`` itself instead (in the child, so ``--trace-collects``
sees every section: journeys, segments, drivers and the report too; one time for the whole).

Every run is a fresh interpreter (``_child``). The parent polls the resident memory of the child
and of everything it started (Spark's JVM included) every 0.2 s, keeps the peak per stage and
overall, and kills the run above ``--kill-above`` (the run is then reported with the stage it
reached). The child writes its progress after every stage, so a killed or timed-out run still
reports what it finished. The child's spill folder (FLOWLENS_TEMP_DIR) is measured every 2 s:
the peak bytes on disk per stage and overall (``spill GB``); ``--sample-spill`` names the statements:
a thread in the child samples the folder, the resident memory and the flowlens call site being run,
and the call sites that ran longest are printed with the spill at their start, highest and end
(every sample in ``<work>/<size>-<run>.samples.jsonl``). Medians over ``--repeat`` runs; the 1-minute load average is sampled
while each run runs and its mean reported (2 cores: above 2 the machine was contended).

The logs (``generate``): the bundle benchmark's bank-service model (``bench_bundle.py``,
36 activities, ~16.4 events per case, rework loops, start and end times) generated in chunks of
10^6 events. A chunk is one branch office: its own cases (``B007C012345``) and its own 100
resources (``B007R042``) over the same year, so the load per resource and the resource
calendars stay those of a 10^6 log while the log grows (10^8 events: 100 branches, 10,000
resources, ~6.1 million cases). Each chunk is written as a Parquet row group as soon as it is
made (pyarrow ``ParquetWriter``), so generating 10^8 holds one chunk (~150 MB) at a time.
Deterministic by ``--seed``; files go to ``benchmarks/data/stages_<size>_seed<seed>.parquet``
(git-ignored, reused while the parameters match). That model has no redundant steps, so
``find_wastes`` finds nothing there and its detectors stop early: ``--log`` times the stages on
a given Parquet log instead, e.g. ``bench_findings.py``'s concatenated bank demo (``build_log``),
where the detectors find what they find at 10^6 (35 findings).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DATA_DIR = HERE / "data"
RESULTS_DIR = HERE / "results"
GENERATOR_VERSION = 1
CHUNK_EVENTS = 1_000_000
STAGES = ("read", "map", "variants", "time_model", "waiting", "bottlenecks", "findings")
GB = 10**9

# --------------------------------------------------------------------------------------------
# The log, in chunks
# --------------------------------------------------------------------------------------------


def size_label(n: int) -> str:
    """``1e7`` for 10**7, else the number: the file name of a size.

    >>> size_label(10**8), size_label(2_500_000)
    ('1e8', '2500000')
    """
    e = len(str(n)) - 1
    return f"1e{e}" if n == 10**e else str(n)


def data_path(n_events: int, seed: int, data_dir: Path) -> Path:
    return data_dir / f"stages_{size_label(n_events)}_seed{seed}.parquet"


def _meta(n_events: int, seed: int) -> dict[str, Any]:
    return {"generator": "bench_stages", "version": GENERATOR_VERSION, "events": n_events, "seed": seed}


def _chunk_table(k: int, n: int, seed: int) -> tuple[Any, int]:
    """Chunk ``k`` (branch office k) of ``n`` events as an Arrow table, and its case count."""
    import numpy as np
    import pyarrow as pa
    from bench_bundle import _START, ACTIVITIES, N_RESOURCES, generate_arrays

    # a seed per chunk from the run's seed: chunks are independent and reproducible
    arr = generate_arrays(n, seed * 1_000_003 + k)
    prefix = f"B{k:03d}"

    def labels(codes: Any, names: list[str]) -> Any:
        dictionary = pa.array(names, pa.string())
        return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary).cast(pa.string())

    base_us = np.datetime64(_START, "s").astype(np.int64) * 1_000_000
    table = pa.table(
        {
            "case_id": labels(arr["case"], [f"{prefix}C{i:06d}" for i in range(arr["n_cases"])]),
            "activity": labels(arr["act"], list(ACTIVITIES)),
            "resource": labels(arr["res"], [f"{prefix}R{i + 1:03d}" for i in range(N_RESOURCES)]),
            "start_time": pa.array(arr["start"] * 1_000_000 + base_us, pa.timestamp("us")),
            "end_time": pa.array(arr["end"] * 1_000_000 + base_us, pa.timestamp("us")),
        }
    )
    return table, int(arr["n_cases"])


def generate(n_events: int, seed: int, path: Path) -> dict[str, Any]:
    """Write ``n_events`` events to ``path`` chunk by chunk (one Parquet row group per chunk of
    :data:`CHUNK_EVENTS`); the memory held is one chunk's, whatever ``n_events``."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    cases = 0
    t0 = time.perf_counter()
    writer = None
    try:
        for k, lo in enumerate(range(0, n_events, CHUNK_EVENTS)):
            table, n_cases = _chunk_table(k, min(CHUNK_EVENTS, n_events - lo), seed)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=CHUNK_EVENTS)
            cases += n_cases
            if k % 10 == 9:
                log(f"  {lo + table.num_rows:,} events written ({time.perf_counter() - t0:.0f} s)")
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    meta = _meta(n_events, seed) | {
        "cases": cases,
        "chunks": -(-n_events // CHUNK_EVENTS),
        "bytes": path.stat().st_size,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    path.with_name(path.name + ".meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def ensure_data(n_events: int, seed: int, data_dir: Path) -> Path:
    """The log of one size, generated (in a child, so the parent stays small) when missing."""
    path = data_path(n_events, seed, data_dir)
    meta_path = path.with_name(path.name + ".meta.json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in _meta(n_events, seed)} == _meta(n_events, seed):
            return path
    log(f"generating {size_label(n_events)} events into {path} ...")
    cmd = [sys.executable, __file__, "generate", "--events", str(n_events), "--seed", str(seed)]
    subprocess.run([*cmd, "--data-dir", str(data_dir)], check=True)
    return path


# --------------------------------------------------------------------------------------------
# One run, in a child process
# --------------------------------------------------------------------------------------------


class CollectTrace:
    """Records every result brought from the engine into Python with at least ``min_rows`` rows,
    and where in flowlens it was asked for (``--trace-collects``): the per-event collects that
    keep a log from running out of core."""

    def __init__(self, min_rows: int) -> None:
        self.min_rows = min_rows
        self.hits: dict[str, dict[str, Any]] = {}

    def install(self) -> None:
        # every result an Ibis expression brings back goes through its backend's execute or
        # to_pyarrow (to_pandas included)
        from ibis.backends.duckdb import Backend as DuckDB

        backends: list[Any] = [DuckDB]
        try:
            from ibis.backends.pyspark import Backend as PySpark

            backends.append(PySpark)
        except ImportError:
            pass
        for cls in backends:
            for name in ("execute", "to_pyarrow"):
                setattr(cls, name, self._wrap(cls.__dict__[name], name))
        # and the other way: tables made in Python and sent to the engine (on Spark, from the
        # driver to the executors)
        import ibis

        original = ibis.memtable

        def memtable(data: Any, *args: Any, **kwargs: Any) -> Any:
            rows = len(data) if hasattr(data, "__len__") else 0
            if rows >= self.min_rows:
                self.record("memtable", rows, data)
            return original(data, *args, **kwargs)

        ibis.memtable = memtable

    def _wrap(self, original: Any, name: str) -> Any:
        trace = self

        def wrapper(backend: Any, *args: Any, **kwargs: Any) -> Any:
            out = original(backend, *args, **kwargs)
            rows = getattr(out, "num_rows", None)
            if rows is None:
                rows = len(out) if hasattr(out, "__len__") else 1
            if rows >= trace.min_rows:
                trace.record(name, rows, out)
            return out

        return wrapper

    def record(self, name: str, rows: int, out: Any) -> None:
        import traceback

        where = [
            f"{f.filename.rsplit('/flowlens/', 1)[1]}:{f.lineno} {f.name}"
            for f in traceback.extract_stack()[:-2]
            if "/flowlens/" in f.filename
        ][-3:]
        nbytes = getattr(out, "nbytes", None)
        if nbytes is None and hasattr(out, "memory_usage"):
            nbytes = int(out.memory_usage(deep=True).sum()) if hasattr(out.memory_usage(), "sum") else None
        key = f"{name} " + (" <- ".join(reversed(where)) or "?")
        hit = self.hits.setdefault(key, {"calls": 0, "max_rows": 0, "max_bytes": 0, "how": name})
        hit["calls"] += 1
        hit["max_rows"] = max(hit["max_rows"], rows)
        hit["max_bytes"] = max(hit["max_bytes"], int(nbytes or 0))


def _rss_self() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class SpillSampler:
    """A thread that samples, every ``every`` seconds, the bytes in the engine's spill folder,
    the process's resident memory and the main thread's innermost flowlens frames (the
    statement being run), so the statements that spill can be named (``--sample-spill``).
    :meth:`summary` gives one row per run of consecutive samples at one call site: seconds,
    CPU seconds, and the spill at its start, its highest and its end."""

    def __init__(self, folder: Path, path: Path, every: float) -> None:
        import threading

        self.folder, self.path, self.every = folder, path, every
        self.main = threading.main_thread().ident
        self.stage: str | None = None
        self.rows: list[tuple[float, float, int, int, str | None, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def where(self) -> str:
        frame = sys._current_frames().get(self.main)  # type: ignore[arg-type]
        sites = []
        while frame is not None:
            name = frame.f_code.co_filename
            if "/flowlens/" in name:
                sites.append(f"{name.rsplit('/flowlens/', 1)[1]}:{frame.f_lineno} {frame.f_code.co_name}")
            frame = frame.f_back
        return " <- ".join(sites[:3]) or "?"

    def _run(self) -> None:
        t0 = time.perf_counter()
        with self.path.open("w") as f:
            while not self._stop.wait(self.every):
                row = (
                    round(time.perf_counter() - t0, 2),
                    round(time.process_time(), 2),
                    disk_bytes(self.folder),
                    _rss_self(),
                    self.stage,
                    self.where(),
                )
                self.rows.append(row)
                f.write(json.dumps(row) + "\n")
                f.flush()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self, min_seconds: float = 2.0) -> list[dict[str, Any]]:
        """Consecutive samples at one call site merged; the runs of at least ``min_seconds``."""
        out: list[dict[str, Any]] = []
        for t, cpu, spill, rss, stage, site in self.rows:
            if out and out[-1]["site"] == site and out[-1]["stage"] == stage:
                run = out[-1]
                run.update(t1=t, cpu1=cpu, spill_max=max(run["spill_max"], spill), spill_end=spill)
                run["rss_max"] = max(run["rss_max"], rss)
            else:
                out.append(
                    {"stage": stage, "site": site, "t0": t, "t1": t, "cpu0": cpu, "cpu1": cpu,
                     "spill_start": spill, "spill_max": spill, "spill_end": spill, "rss_max": rss}
                )  # fmt: skip
        return [r for r in out if r["t1"] - r["t0"] >= min_seconds]


def child_main(args: argparse.Namespace) -> None:
    """The stages in one process; progress (and the stage running) written after each step."""
    progress_path = Path(args.result)
    out: dict[str, Any] = {"stages": {}, "running": None, "done": False}

    def save() -> None:
        tmp = progress_path.with_name(progress_path.name + ".tmp")
        tmp.write_text(json.dumps(out))
        tmp.replace(progress_path)

    t0 = time.perf_counter()
    import flowlens
    from flowlens.analysis.bottlenecks import bottleneck_report
    from flowlens.analysis.waiting import waiting_causes
    from flowlens.engine import Limits
    from flowlens.findings.api import find_wastes
    from flowlens.findings.context import FindingContext
    from flowlens.timing.model import time_model

    out["import_s"] = round(time.perf_counter() - t0, 3)
    trace = CollectTrace(args.trace_collects) if args.trace_collects else None
    if trace is not None:
        trace.install()
    limits = Limits.resolve(memory_limit=args.memory_limit, threads=args.threads)
    sampler = None
    if args.sample_spill:
        folder = Path(os.environ.get("FLOWLENS_TEMP_DIR", tempfile.gettempdir()))
        sampler = SpillSampler(folder, progress_path.with_suffix(".samples.jsonl"), args.sample_spill)
        sampler.start()
    state: dict[str, Any] = {}
    if args.analyze_out:
        # the command itself, in this process: one stage, and the trace sees every step
        from flowlens.cli import main as cli_main

        argv = ["analyze", args.path, "-o", args.analyze_out, "--engine", args.engine]
        argv += ["--memory-limit", args.memory_limit] if args.memory_limit else []
        argv += ["--threads", str(args.threads)] if args.threads else []
        out["running"] = "analyze"
        save()
        tables = None
        if args.list_tables:
            from table_trace import trace_report_sections

            tables = trace_report_sections()
        t1, c1 = time.perf_counter(), time.process_time()
        cli_main(argv)
        if tables is not None:
            out["tables"] = tables()
        out["stages"]["analyze"] = {
            "seconds": round(time.perf_counter() - t1, 3),
            "cpu_s": round(time.process_time() - c1, 3),
            "rss_after": _rss_self(),
            "facts": {},
        }
        out["collects"] = trace.hits if trace is not None else None
        out["running"], out["done"] = None, True
        save()
        return

    def read() -> Any:
        log = flowlens.read_log(args.path, limits=limits)
        if args.engine != "duckdb":
            log = log.to_engine(args.engine)
        state["log"] = log
        return {"events": log.n_events, "cases": log.n_cases}

    def tm() -> Any:
        state["tm"] = time_model(state["log"])
        return {"instances": int(state["tm"].instances.count().to_pandas())}

    def waiting() -> Any:
        wa = waiting_causes(state["tm"])
        state["wa"] = wa
        return {"transitions": len(wa.by("transition")), "activities": len(wa.by("activity"))}

    def findings() -> Any:
        log = state["log"]
        ctx = FindingContext(log, seed=0, _tm=state["tm"], _waiting=state["wa"])
        report = find_wastes(log, ctx=ctx)
        # the detectors' tables dropped as analyze drops them after its findings section (a
        # revision before FindingContext.close keeps them)
        getattr(ctx, "close", lambda: None)()
        return {"findings": len(report.findings), "missing": report.missing}

    steps = {
        "read": read,
        "map": lambda: {"edges": len(flowlens.directly_follows(state["log"]).edges)},
        "variants": lambda: {"variants": len(flowlens.variants(state["log"]))},
        "time_model": tm,
        "waiting": waiting,
        "bottlenecks": lambda: {"levels": len(bottleneck_report(state["tm"]).levels)},
        "findings": findings,
    }
    for name in args.stages.split(","):
        out["running"] = name
        if sampler is not None:
            sampler.stage = name
        save()
        t1, c1 = time.perf_counter(), time.process_time()
        facts = steps[name]()
        out["stages"][name] = {
            "seconds": round(time.perf_counter() - t1, 3),
            # CPU seconds of every thread of the process (the engine's included): on a shared
            # machine a fairer comparison than wall seconds
            "cpu_s": round(time.process_time() - c1, 3),
            "rss_after": _rss_self(),
            "facts": facts,
        }
        if trace is not None:
            out["collects"] = trace.hits
        if sampler is not None:
            out["spill_sites"] = sampler.summary()
        if args.list_tables and args.engine == "duckdb":
            if "tables" not in state:
                from table_trace import TableTrace

                state["tables"] = TableTrace(state["log"].engine.duckdb)
            state["tables"].snapshot(name)
            out["tables"] = state["tables"].report()
        out["running"] = None
        save()
    if sampler is not None:
        sampler.stop()
        out["spill_sites"] = sampler.summary()
    out["done"] = True
    save()


# --------------------------------------------------------------------------------------------
# The parent: runs, watchdog, table
# --------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Spark's JVM is a child of Python)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(children.get(p, []))
    return total


def disk_bytes(folder: Path) -> int:
    """Bytes on disk under ``folder`` (the engine's spill files; 0 when it is gone)."""
    total = 0
    todo = [str(folder)]
    while todo:
        try:
            with os.scandir(todo.pop()) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            todo.append(e.path)
                        else:
                            total += e.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def run_child(
    cmd: list[str],
    result: Path | None,
    *,
    kill_above: int | None,
    timeout: float | None,
    errlog: Path,
    spill_dir: Path | None = None,
    max_spill: int | None = None,
) -> dict[str, Any]:
    """Run ``cmd`` with the watchdog: peak tree RSS overall and per stage (from the progress
    file), killed above ``kill_above`` bytes or after ``timeout`` seconds. With ``spill_dir``
    (the child's FLOWLENS_TEMP_DIR) the peak bytes on disk there too, every 2 s; the run is
    killed when they pass ``max_spill`` (a shared disk must not fill), and the folder is
    removed after the run (a killed engine leaves its spill files behind)."""
    load = os.getloadavg()
    t0 = time.perf_counter()
    peak, per_stage, why = 0, {}, None
    spill_peak, spill_stage, last_spill = 0, {}, 0.0
    loads: list[float] = []  # the 1-minute load average while the run ran
    env = None
    if spill_dir is not None:
        spill_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "FLOWLENS_TEMP_DIR": str(spill_dir)}
    with errlog.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=err, stderr=err, start_new_session=True, env=env)
        last_poll = 0.0
        running = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter()
            loads.append(os.getloadavg()[0])
            rss = tree_rss(proc.pid)
            peak = max(peak, rss)
            if result is not None and now - last_poll > 1.0:
                last_poll = now
                with contextlib.suppress(OSError, ValueError):  # being rewritten
                    running = json.loads(result.read_text()).get("running")
            if running:
                per_stage[running] = max(per_stage.get(running, 0), rss)
            if spill_dir is not None and now - last_spill > 2.0:
                last_spill = now
                disk = disk_bytes(spill_dir)
                spill_peak = max(spill_peak, disk)
                if running:
                    spill_stage[running] = max(spill_stage.get(running, 0), disk)
            if kill_above and rss > kill_above:
                why = f"killed: {rss / GB:.1f} GB resident above --kill-above"
            elif max_spill and spill_peak > max_spill:
                why = f"killed: {spill_peak / GB:.1f} GB spilled above --max-spill"
            elif timeout and now - t0 > timeout:
                why = f"killed: over --timeout {timeout:.0f} s"
            if why:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
    code = os.waitstatus_to_exitcode(status)
    if spill_dir is not None:
        import shutil

        shutil.rmtree(spill_dir, ignore_errors=True)
    out: dict[str, Any] = {}
    if result is not None and result.exists():
        out = json.loads(result.read_text())
    if code != 0 and why is None:
        tail = errlog.read_text(errors="replace").strip().splitlines()[-4:]
        why = f"exit {code}: " + " | ".join(tail)
    out.update(
        wall_s=round(time.perf_counter() - t0, 2),
        peak_rss=max(peak, usage.ru_maxrss * 1024),
        peak_rss_stage=per_stage,
        peak_spill=spill_peak if spill_dir is not None else None,
        peak_spill_stage=spill_stage,
        load_before=[round(x, 2) for x in load],
        load_after=[round(x, 2) for x in os.getloadavg()],
        load_during=[round(statistics.mean(loads), 2), round(max(loads), 2)] if loads else None,
        failed=why,
    )
    return out


def _gb(x: float | None) -> str:
    return "" if x is None else f"{x / GB:.2f}"


def print_table(rows: list[dict[str, Any]], file: Any) -> None:
    """One line per size and stage: median seconds, range, peak resident memory, load."""
    print(
        f"{'events':>6} {'engine':>6} {'stage':<12} {'median s':>9} {'min-max s':>15} {'CPU s':>8} "
        f"{'peak GB':>8} {'spill GB':>8} {'load':>9}  note",
        file=file,
    )
    for row in rows:
        for st in row["stages"]:
            secs = st["seconds"]
            rng = f"{min(secs):.2f}-{max(secs):.2f}" if len(secs) > 1 else ""
            med = f"{statistics.median(secs):.2f}" if secs else "-"
            cpus = [c for c in st.get("cpu_s", []) if c is not None]
            cpu = f"{statistics.median(cpus):.1f}" if cpus else ""
            print(
                f"{row['label']:>6} {row['engine']:>6} {st['stage']:<12} {med:>9} {rng:>15} {cpu:>8} "
                f"{_gb(st['peak_rss']):>8} {_gb(st.get('peak_spill')):>8} {row['load']:>9}  "
                f"{st.get('note', '')}",
                file=file,
            )
        total = row["total_s"]
        print(
            f"{row['label']:>6} {row['engine']:>6} {'TOTAL':<12} "
            f"{(f'{statistics.median(total):.2f}' if total else '-'):>9} {'':>15} {'':>8} "
            f"{_gb(row['peak_rss']):>8} {_gb(row.get('peak_spill')):>8} {row['load']:>9}  "
            f"{row.get('note', '')}",
            file=file,
        )


def print_spill_sites(sites: list[dict[str, Any]], file: Any, top: int = 25) -> None:
    """The call sites that ran longest (``--sample-spill``), in the order they ran: wall and
    CPU seconds, and the spill folder's bytes at the start, highest and end of each."""
    longest = sorted(sites, key=lambda r: r["t1"] - r["t0"], reverse=True)[:top]
    print(f"{'stage':<12} {'wall s':>7} {'CPU s':>7} {'spill GB start -> max -> end':>30} {'RSS GB':>6}  site",
          file=file)  # fmt: skip
    for r in sorted(longest, key=lambda r: r["t0"]):
        spill = f"{_gb(r['spill_start'])} -> {_gb(r['spill_max'])} -> {_gb(r['spill_end'])}"
        print(
            f"{r['stage'] or '':<12} {r['t1'] - r['t0']:>7.1f} {r['cpu1'] - r['cpu0']:>7.1f} {spill:>30} "
            f"{_gb(r['rss_max']):>6}  {r['site']}",
            file=file,
        )


def summarise(label: str, engine: str, runs: list[dict[str, Any]], stages: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"label": label, "engine": engine, "runs": len(runs), "stages": []}
    for name in stages:
        done = [r["stages"][name] for r in runs if name in r.get("stages", {})]
        st: dict[str, Any] = {
            "stage": name,
            "seconds": [d["seconds"] for d in done],
            "cpu_s": [d.get("cpu_s") for d in done],
            "peak_rss": max((r["peak_rss_stage"].get(name, 0) for r in runs), default=None) or None,
            "peak_spill": max((r.get("peak_spill_stage", {}).get(name, 0) for r in runs), default=None),
            "facts": done[0]["facts"] if done else None,
        }
        if len(done) < len(runs):
            st["note"] = "; ".join(
                f"not finished ({r['failed']})"
                for r in runs
                if name not in r.get("stages", {}) and r["failed"]
            )[:160]
        out["stages"].append(st)
    ok = [r for r in runs if not r["failed"]]
    out["total_s"] = [round(sum(s["seconds"] for s in r["stages"].values()), 2) for r in ok]
    out["peak_rss"] = max(r["peak_rss"] for r in runs)
    spills = [r["peak_spill"] for r in runs if r.get("peak_spill") is not None]
    out["peak_spill"] = max(spills) if spills else None
    # the mean 1-minute load while the runs ran (2 cores: above 2 the machine was shared)
    loads = [(r.get("load_during") or r["load_before"])[0] for r in runs]
    out["load"] = f"{min(loads):.1f}-{max(loads):.1f}" if len(loads) > 1 else f"{loads[0]:.1f}"
    if any(r["failed"] for r in runs):
        out["note"] = "; ".join(sorted({r["failed"] for r in runs if r["failed"]}))[:200]
    if any("collects" in r for r in runs):
        out["collects"] = next(r["collects"] for r in runs if "collects" in r)
    return out


def parse_size(text: str) -> int:
    return int(float(text))


def environment() -> dict[str, Any]:
    import subprocess as sp

    try:
        commit = sp.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = None
    mem = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem / GB, 1),
        "python": platform.python_version(),
        "commit": commit,
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def parent_main(args: argparse.Namespace) -> int:
    if args.log:
        import pyarrow.parquet as pq

        if not Path(args.log).is_file():
            raise SystemExit(f"bench_stages: --log {args.log}: no such file (give a Parquet event log)")
        sizes = [pq.ParquetFile(args.log).metadata.num_rows]
    else:
        sizes = [parse_size(s) for s in args.sizes.split(",")]
    stages = args.stages.split(",")
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise SystemExit(
            f"bench_stages: unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}"
        )
    kill = int(float(args.kill_above.rstrip("GBgb")) * GB) if args.kill_above else None
    rows = []
    work = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    for n in sizes:
        path = Path(args.log) if args.log else ensure_data(n, args.seed, Path(args.data_dir))
        repeat = args.repeat if args.repeat else (1 if n >= 10**8 else 3)
        runs = []
        for i in range(repeat):
            result = work / f"{size_label(n)}-{i}.json"
            cmd = [
                sys.executable,
                __file__,
                "_child",
                "--path",
                str(path),
                "--result",
                str(result),
                "--engine",
                args.engine,
                "--stages",
                ",".join(stages),
            ]
            cmd += ["--memory-limit", args.memory_limit] if args.memory_limit else []
            cmd += ["--threads", str(args.threads)] if args.threads else []
            cmd += ["--trace-collects", str(args.trace_collects)] if args.trace_collects else []
            cmd += ["--analyze-out", str(work / f"report-{size_label(n)}-{i}")] if args.analyze else []
            cmd += ["--sample-spill", str(args.sample_spill)] if args.sample_spill else []
            cmd += ["--list-tables"] if args.list_tables else []
            res = result
            if args.nice:
                cmd = ["nice", "-n", str(args.nice), *cmd]
            log(f"{size_label(n)} run {i + 1}/{repeat} ({args.engine}) ...")
            out = run_child(
                cmd,
                res,
                kill_above=kill,
                timeout=args.timeout,
                errlog=work / f"{size_label(n)}-{i}.log",
                spill_dir=work / f"spill-{size_label(n)}-{i}",
                max_spill=int(float(args.max_spill.rstrip("GBgb")) * GB) if args.max_spill else None,
            )
            log(
                f"  {out['wall_s']:.1f} s, peak {out['peak_rss'] / GB:.2f} GB, load {out['load_before'][0]:.1f}"
                + (f", {out['failed']}" if out["failed"] else "")
            )
            if out.get("spill_sites"):
                print_spill_sites(out["spill_sites"], sys.stderr)
            if out.get("tables"):
                from table_trace import print_summary, print_tables

                print_summary(out["tables"], sys.stderr)
                print_tables(out["tables"], sys.stderr)
            runs.append(out)
        row = summarise(size_label(n), args.engine, runs, ["analyze"] if args.analyze else stages)
        row["events"] = n
        row["memory_limit"] = args.memory_limit
        row["runs_raw"] = runs
        rows.append(row)
        print_table([row], sys.stderr)
    summary = {"environment": environment(), "args": vars(args), "rows": rows}
    print_table(rows, sys.stdout)
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1, default=str))
    if args.json:
        print(json.dumps(summary, indent=1, default=str))
    return 1 if any(r.get("note") for r in rows) else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "generate":
        p = argparse.ArgumentParser(prog="bench_stages.py generate")
        p.add_argument("--events", type=parse_size, required=True)
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--data-dir", default=str(DATA_DIR))
        a = p.parse_args(argv[1:])
        meta = generate(a.events, a.seed, data_path(a.events, a.seed, Path(a.data_dir)))
        log(json.dumps(meta))
        return 0
    if argv and argv[0] == "_child":
        p = argparse.ArgumentParser(prog="bench_stages.py _child")
        p.add_argument("--path", required=True)
        p.add_argument("--result", required=True)
        p.add_argument("--engine", default="duckdb")
        p.add_argument("--stages", default=",".join(STAGES))
        p.add_argument("--memory-limit")
        p.add_argument("--threads", type=int)
        p.add_argument("--trace-collects", type=int, default=0)
        p.add_argument("--analyze-out")
        p.add_argument("--sample-spill", type=float, default=0)
        p.add_argument("--list-tables", action="store_true")
        child_main(p.parse_args(argv[1:]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1e6,1e7", help="comma-separated event counts (1e6,1e7,1e8)")
    p.add_argument("--log", help="time the stages on this Parquet log instead of generated ones")
    p.add_argument("--repeat", type=int, default=0, help="runs per size (default: 3, one at 10^8)")
    p.add_argument("--stages", default=",".join(STAGES))
    p.add_argument("--engine", default="duckdb", choices=["duckdb", "spark"])
    p.add_argument("--memory-limit", help="flowlens --memory-limit for every run, e.g. 6GB")
    p.add_argument("--threads", type=int)
    p.add_argument("--kill-above", help="kill a run whose processes hold more than this (e.g. 9GB)")
    p.add_argument("--timeout", type=float, help="kill a run after this many seconds")
    p.add_argument(
        "--max-spill",
        default="30GB",
        help="kill a run whose spill folder holds more than this (default 30GB)",
    )
    p.add_argument("--nice", type=int, default=5, help="niceness of the runs (0: none)")
    p.add_argument("--analyze", action="store_true", help="time `flowlens analyze` as a whole instead")
    p.add_argument(
        "--trace-collects",
        type=int,
        default=0,
        metavar="ROWS",
        help="list every engine result of at least ROWS rows brought into Python, with its caller",
    )
    p.add_argument(
        "--sample-spill",
        type=float,
        default=0,
        metavar="SECONDS",
        help="sample the spill folder and the statement being run this often; print the "
        "call sites that ran longest with the spill at their start, highest and end",
    )
    p.add_argument(
        "--list-tables",
        action="store_true",
        help="list the engine's tables alive after each stage (with --analyze: each report "
        "section), their size and the last stage that reads them (table_trace.py)",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--data-dir", default=str(DATA_DIR))
    p.add_argument("--out", help="write the full result (every run) as JSON here")
    p.add_argument("--json", action="store_true", help="also print the full result as JSON")
    return parent_main(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
