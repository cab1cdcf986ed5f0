"""``generate_bank``: the synthetic bank customer-service event logs with ground truth.

Runs the five processes (domain.md 6), then one counterfactual per remedy with the same
arrivals and the same per-case random streams, and writes::

    events.parquet / events.csv (events.xes on request)
    cases.parquet, customers.parquet
    ground_truth.parquet, ground_truth_summary.json, bottleneck_truth.json
    counterfactuals/events_tobe_<remedy>.parquet, savings_<remedy>.parquet, summary.json
    README.md

>>> import tempfile
>>> res = generate_bank("tiny", seed=7, out_dir=tempfile.mkdtemp(), remedies="none",
...                     formats=("parquet",))
>>> res.cases["service_issue"] > 100
True
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from flowlens.errors import ConfigError
from flowlens.outputs import output_folder, write_text
from flowlens.synth import presets as P
from flowlens.synth.arrivals import PROCESS_PREFIX, arrival_times
from flowlens.synth.calendars import check_years
from flowlens.synth.customers import CustomerIndex, make_customers
from flowlens.synth.labels import LANGUAGES, STYLES
from flowlens.synth.noise import parse_noise
from flowlens.synth.outputs import dump_json, write_base, write_counterfactual
from flowlens.synth.processes.complaint import CATEGORIES, CATEGORY_P, get_sla
from flowlens.synth.remedies import REMEDIES, Remedy, resolve_remedies
from flowlens.synth.rng import PROCESS_CODES, numpy_rng
from flowlens.synth.runner import Arrival, ProcessRun, run_process
from flowlens.synth.sim import Switches
from flowlens.synth.writer import (
    EventSink,
    Trigger,
    write_table,
)

FORMATS = ("parquet", "csv")
SIMULATED = ("account_opening", "loan_application", "card_dispute", "service_issue")


@dataclass
class GenerationResult:
    """What was generated: counts per process, files written, the options that made them."""

    out_dir: Path
    preset: str
    seed: int
    cases: dict[str, int]
    events: dict[str, int]
    files: list[str]
    ground_truth_rows: int
    remedies: dict[str, dict[str, Any]] = field(default_factory=dict)
    noise: dict[str, int] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        d["total_cases"] = sum(self.cases.values())
        d["total_events"] = sum(self.events.values())
        return d


@dataclass
class _Run:
    """One simulation of the whole bank (as-is or one remedy)."""

    name: str
    dir: Path
    parts: dict[str, Path]
    runs: dict[str, ProcessRun]
    triggers: list[Trigger]
    lead: dict[str, tuple[float, float]]
    resimulated: tuple[str, ...]


class _Bank:
    def __init__(
        self,
        preset: P.Preset,
        seed: int,
        lang: str,
        style: str,
        hide: bool,
        sla: str,
        work: Path,
        progress: Callable[[str], None] | None,
    ) -> None:
        self.preset = preset
        self.seed = seed
        self.lang, self.style, self.hide, self.sla = lang, style, hide, sla
        self.work = work
        self.progress = progress or (lambda _msg: None)
        self.n_branches = max(2, round(20 * preset.volume))
        n_customers = max(50, int(preset.expected_cases * preset.customers_per_case))
        self.customers_df = make_customers(seed, n_customers, n_branches=self.n_branches)
        self.customers = CustomerIndex(self.customers_df)
        self.arrivals: dict[str, list[Arrival]] = {}
        for proc in SIMULATED:
            pfx = PROCESS_PREFIX[proc]
            times = arrival_times(seed, proc, preset.start, preset.days, preset.volume)
            self.arrivals[proc] = [
                Arrival(float(t), f"{pfx}-{i:06d}", (pfx, i, 0)) for i, t in enumerate(times, start=1)
            ]
        self.indep_complaints = arrival_times(seed, "complaint", preset.start, preset.days, preset.volume)
        self.category_weights: tuple[float, ...] | None = None
        self.base: _Run | None = None
        self.cf_dir = work / "counterfactuals"

    def _complaint_arrivals(self, triggers: list[Trigger]) -> list[Arrival]:
        if self.category_weights is None:
            # Independent complaints make up the CBIRC category mix that the triggered ones
            # leave; fixed from the as-is run, so every counterfactual keeps them unchanged.
            n_ind = len(self.indep_complaints)
            total = n_ind + len(triggers)
            have = {c: sum(1 for t in triggers if t.category == c) for c in CATEGORIES}
            need = [
                max(p * total - have[c], 0.05 * p * total)
                for c, p in zip(CATEGORIES, CATEGORY_P, strict=True)
            ]
            s = sum(need)
            self.category_weights = tuple(x / s for x in need)
        rng = numpy_rng(self.seed, PROCESS_CODES["CP"], 2)
        cats = rng.choice(len(CATEGORIES), size=len(self.indep_complaints), p=np.array(self.category_weights))
        out = [
            Arrival(
                float(t),
                f"CP-{i:06d}",
                ("CP", i, 0),
                fixed={"reason": CATEGORIES[c], "product": CATEGORIES[c]},
            )
            for i, (t, c) in enumerate(zip(self.indep_complaints, cats, strict=True), start=1)
        ]
        for tr in triggers:
            pfx = PROCESS_PREFIX[tr.process]
            out.append(
                Arrival(
                    tr.t,
                    f"CP-X-{tr.case_id}",
                    ("CPX", tr.index, PROCESS_CODES[pfx]),
                    customer=tr.customer,
                    fixed={"reason": tr.category, "product": tr.category},
                )
            )
        out.sort(key=lambda a: (a.t, a.case_id))
        return out

    def run(self, name: str, switches: Switches, remedy: Remedy | None, jobs: int = 1) -> _Run:
        d = self.work / name
        sink = self._sink(d)
        runs: dict[str, ProcessRun] = {}
        parts: dict[str, Path] = {}
        triggers: list[Trigger] = []
        lead: dict[str, tuple[float, float]] = {}
        resim: list[str] = []
        base = self.base
        todo = []
        for proc in SIMULATED:
            if base is not None and remedy is not None and proc not in remedy.scope:
                parts[proc] = base.parts[proc]
                triggers += [t for t in base.triggers if t.process == proc]
            else:
                todo.append(proc)
        child = None
        if jobs > 1 and len(todo) > 1 and "service_issue" in todo:
            # The service issues are half the work: simulate them in a second process.
            todo.remove("service_issue")
            child = _pool(1).submit(_child_process, name, "service_issue", switches)
        for proc in todo:
            self.progress(f"{name}: {proc}")
            runs[proc] = self._run_process(proc, self.arrivals[proc], switches, sink)
            parts[proc] = sink.part_path(proc)
            resim.append(proc)
        if child is not None:
            r, trig, ld = child.result()
            runs["service_issue"] = r
            parts["service_issue"] = sink.part_path("service_issue")
            sink.triggers += trig
            sink.lead.update(ld)
            resim.append("service_issue")
        resim.sort(key=SIMULATED.index)
        triggers += [t for t in sink.triggers]
        triggers.sort(key=lambda t: t.case_id)
        same = base is not None and _same_triggers(triggers, base.triggers)
        if base is not None and remedy is not None and "complaint" not in remedy.scope and same:
            parts["complaint"] = base.parts["complaint"]
        else:
            self.progress(f"{name}: complaint")
            runs["complaint"] = self._run_process(
                "complaint", self._complaint_arrivals(triggers), switches, sink
            )
            parts["complaint"] = sink.part_path("complaint")
            resim.append("complaint")
        lead.update(sink.lead)
        return _Run(name, d, parts, runs, triggers, lead, tuple(resim))

    def _sink(self, d: Path) -> EventSink:
        return EventSink(
            d,
            seed=self.seed,
            start=self.preset.start,
            lang=self.lang,
            style=self.style,
            hide_ground_truth=self.hide,
            customer_ids=self.customers.ids,
        )

    def _run_process(self, proc: str, arrivals: list[Arrival], sw: Switches, sink: EventSink) -> ProcessRun:
        r = run_process(
            proc,
            arrivals,
            seed=self.seed,
            start=self.preset.start,
            days=self.preset.days,
            volume=self.preset.volume,
            switches=sw,
            customers=self.customers,
            n_branches=self.n_branches,
            params={"sla": self.sla},
            sink=sink,
            chunk_days=self.preset.chunk_days,
        )
        r.extra["start_weekday"] = self.preset.start.weekday()
        return r


# --- parallel runs (fork: workers share the bank built by the parent, nothing is pickled
# but names, switches and results) --------------------------------------------------------
_BANK: _Bank | None = None
_POOLS: dict[int, Any] = {}


def _fork_available() -> bool:
    import multiprocessing as mp

    return "fork" in mp.get_all_start_methods()


def _pool(n: int) -> Any:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if n not in _POOLS:
        _POOLS[n] = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("fork"))
    return _POOLS[n]


def _shutdown_pools(*, kill: bool = False) -> None:
    """Stop the helper pools: let them finish (normal end) or kill their workers (``kill``,
    after an error or Ctrl-C, so the run ends at once instead of after the running task)."""
    for p in _POOLS.values():
        if kill:
            for proc in list(getattr(p, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    proc.kill()
            p.shutdown(wait=False, cancel_futures=True)
        else:
            p.shutdown(wait=True)
    _POOLS.clear()


def _child_process(
    name: str, proc: str, switches: Switches
) -> tuple[ProcessRun, list[Trigger], dict[str, Any]]:
    bank = _BANK
    assert bank is not None
    sink = bank._sink(bank.work / name)
    r = bank._run_process(proc, bank.arrivals[proc], switches, sink)
    return r, sink.triggers, sink.lead


def _child_remedy(name: str) -> dict[str, Any]:
    bank = _BANK
    assert bank is not None and bank.base is not None
    remedy = REMEDIES[name]
    run = bank.run(name, replace(Switches(), **remedy.switches), remedy)
    out = write_counterfactual(bank, bank.base, run, remedy, bank.cf_dir)
    shutil.rmtree(run.dir, ignore_errors=True)
    return out


def _same_triggers(a: list[Trigger], b: list[Trigger]) -> bool:
    return len(a) == len(b) and all(
        x.case_id == y.case_id and x.t == y.t and x.category == y.category for x, y in zip(a, b, strict=True)
    )


def _check(labels: str, label_style: str, formats: tuple[str, ...]) -> None:
    if labels not in LANGUAGES:
        raise ConfigError(f"unknown labels '{labels}'; choose one of {', '.join(LANGUAGES)}")
    if label_style not in STYLES:
        raise ConfigError(f"unknown label style '{label_style}'; choose one of {', '.join(STYLES)}")
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ConfigError(
            f"unknown format '{bad[0] if bad else ''}'; choose from {', '.join(FORMATS)} (XES with xes=True)"
        )
    if "parquet" not in formats:
        raise ConfigError("formats must include parquet (the ground truth and counterfactuals refer to it)")


def generate_bank(
    preset: str | P.Preset = "demo",
    seed: int = 7,
    out_dir: str | Path = "bank_demo",
    *,
    labels: str = "en",
    label_style: str = "friendly",
    noise: str | tuple[str, ...] | list[str] | None = None,
    hide_ground_truth: bool = False,
    formats: tuple[str, ...] | list[str] | str | None = None,
    xes: bool = False,
    remedies: str | tuple[str, ...] | list[str] | None = None,
    sla: str = "CN_CBIRC_2020",
    command: str | None = None,
    progress: Callable[[str], None] | None = None,
    jobs: int | None = None,
) -> GenerationResult:
    """Generate the synthetic bank logs, ground truth and counterfactuals into ``out_dir``.

    Parameters
    ----------
    preset: ``tiny``, ``demo`` or ``large`` (or a :class:`~flowlens.synth.presets.Preset`).
    seed: all randomness derives from it; the same seed gives byte-identical files.
    labels: ``en`` or ``zh`` (Chinese labels in ``activity``; ``activity_zh`` always Chinese).
    label_style: ``friendly`` or ``bpic17`` (loan activities named as in BPIC 2017).
    noise: noise kinds (see :mod:`flowlens.synth.noise`), ``all`` or ``None`` (default: off).
    hide_ground_truth: strip the ``gt`` hints from the events' ``attrs``.
    formats: ``("parquet", "csv")`` by default (``large``: parquet only).
    xes: also write ``events.xes.gz``.
    remedies: counterfactuals to run: ``all``, ``none``, a comma list (default: the preset's).
    sla: complaint SLA preset (``CN_CBIRC_2020``, ``UK_DISP``, ``UK_DISP_PSD``, ``AU_RG271``,
        ``US_CFPB``).
    command: the command line recorded in the dataset README.
    jobs: worker processes (default 1; ``flowlens generate`` uses up to 2); results do not
        depend on it, every run draws from its own seeded streams. Workers are forked, which
        is only safe in a process whose engines (DuckDB, Arrow) have not started threads yet:
        a fresh command line, not a session that has already analysed a log.

    Examples
    --------
    >>> import tempfile, flowlens
    >>> out = tempfile.mkdtemp()
    >>> res = generate_bank("tiny", seed=1, out_dir=out, remedies="warm_handoff")
    >>> flowlens.read_log(f"{out}/events.parquet").quality.rows_quarantined
    0
    """
    pre = P.get_preset(preset)
    if isinstance(formats, str):
        formats = tuple(f.strip() for f in formats.split(",") if f.strip())
    fmts = tuple(formats) if formats is not None else pre.formats
    _check(labels, label_style, fmts)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    get_sla(sla)
    kinds = parse_noise(noise)
    chosen = resolve_remedies(remedies, pre.remedies)
    check_years(pre.start, pre.days + 150)
    out = Path(out_dir)
    if jobs is None:
        jobs = 1
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")
    if not _fork_available():
        jobs = 1
    # Everything is written into a staging folder beside out_dir that replaces it only when
    # the dataset is complete: a failed or killed run leaves out_dir as it was.
    with output_folder(out, kind="dataset") as folder:
        return _generate_into(
            folder.path,
            out,
            pre,
            seed,
            labels,
            label_style,
            hide_ground_truth,
            sla,
            progress,
            jobs,
            fmts,
            xes,
            kinds,
            chosen,
            command,
        )


def _generate_into(
    stage: Path,
    out: Path,
    pre: P.Preset,
    seed: int,
    labels: str,
    label_style: str,
    hide_ground_truth: bool,
    sla: str,
    progress: Callable[[str], None] | None,
    jobs: int,
    fmts: tuple[str, ...],
    xes: bool,
    kinds: tuple[str, ...],
    chosen: tuple[str, ...],
    command: str | None,
) -> GenerationResult:
    """The body of :func:`generate_bank`: writes into ``stage``, describes ``out``."""
    work = Path(tempfile.mkdtemp(prefix=".flowlens-synth-", dir=stage))
    global _BANK
    try:
        bank = _Bank(pre, seed, labels, label_style, hide_ground_truth, sla, work, progress)
        _BANK = bank
        write_table(
            pa.Table.from_pandas(bank.customers_df, preserve_index=False), stage / "customers.parquet"
        )
        del bank.customers_df  # the index keeps what the simulation needs
        base = bank.run("base", Switches(), None, jobs=jobs)
        bank.base = base
        _shutdown_pools()  # the base run's helper; remedy workers fork from a lean parent
        files, counts, noise_counts, gt_rows = write_base(bank, base, stage, fmts, xes, kinds)
        for r in base.runs.values():  # the truth statistics are written; free the arrays
            r.team_waits = {}
        rem_summary: dict[str, dict[str, Any]] = {}
        cf_dir = stage / "counterfactuals"
        bank.cf_dir = cf_dir
        if chosen and jobs > 1:
            import gc
            import multiprocessing as mp

            gc.collect()
            pa.default_memory_pool().release_unused()
            # One fresh forked worker per remedy (maxtasksperchild=1): each counterfactual's
            # memory goes back to the system when it is done, so the large preset stays small.
            n = max(1, min(jobs, pre.remedy_jobs or jobs, len(chosen)))
            with mp.get_context("fork").Pool(processes=n, maxtasksperchild=1) as pool:
                asyncs = [pool.apply_async(_child_remedy, (name,)) for name in chosen]
                for name, ar in zip(chosen, asyncs, strict=True):
                    rem_summary[name] = ar.get()
                    bank.progress(f"counterfactual {name}")
        else:
            for name in chosen:
                bank.progress(f"counterfactual {name}")
                rem_summary[name] = _child_remedy(name)
        if chosen:
            write_text(cf_dir / "summary.json", dump_json(rem_summary))
            files += sorted(p.relative_to(stage).as_posix() for p in cf_dir.iterdir())
        options = {
            "preset": pre.name,
            "seed": seed,
            "labels": labels,
            "label_style": label_style,
            "noise": list(kinds),
            "hide_ground_truth": hide_ground_truth,
            "formats": list(fmts),
            "xes": xes,
            "remedies": list(chosen),
            "sla": sla,
        }
        result = GenerationResult(
            out,
            pre.name,
            seed,
            counts["cases"],
            counts["events"],
            files,
            gt_rows,
            rem_summary,
            noise_counts,
            options,
        )
        from flowlens.synth.readme import dataset_readme

        write_text(stage / "README.md", dataset_readme(result, pre, command))
        result.files = sorted({*result.files, "README.md"})
        return result
    except BaseException:
        _shutdown_pools(kill=True)  # failed or interrupted: stop the workers now
        raise
    finally:
        _shutdown_pools()
        _BANK = None
        shutil.rmtree(work, ignore_errors=True)
