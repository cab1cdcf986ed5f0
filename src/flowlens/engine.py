"""The engines an event log lives in: DuckDB (embedded, default) or Spark (``flowlens[spark]``).

Ingestion (reading files, the data-quality gate, lifecycle pairing) always runs in an embedded
DuckDB connection, which reads CSV and Parquet natively and spills to disk when a log does not
fit in memory. Every analysis above it is an Ibis expression over the canonical event table,
so the same query runs on DuckDB and, after :meth:`EventLog.to_engine`, on Spark.

Both take the user's resource limits (:class:`Limits`: ``--memory-limit``, ``--threads``,
``--temp-dir`` or the ``FLOWLENS_*`` environment variables): DuckDB's ``memory_limit``,
``threads`` and spill folder; Spark's driver memory, ``local[n]`` and ``spark.local.dir``.

>>> from flowlens.engine import duckdb_engine
>>> eng = duckdb_engine(memory_limit="600MB", threads=1)
>>> eng.name, eng.limits.memory_bytes, eng.setting("threads")
('duckdb', 600000000, '1')
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlens.errors import ConfigError, EngineError

if TYPE_CHECKING:
    import duckdb
    import ibis
    import pyarrow as pa
    from ibis.backends import BaseBackend

ENGINES = ("duckdb", "spark")

#: Numbers of the stored tables of every Spark engine of the process (:meth:`Engine._next_name`).
_SPARK_VIEW_NUMBERS = itertools.count(1)

#: Environment variables read when an option is not given (the command line and the API alike).
ENV_MEMORY_LIMIT = "FLOWLENS_MEMORY_LIMIT"
ENV_THREADS = "FLOWLENS_THREADS"
ENV_TEMP_DIR = "FLOWLENS_TEMP_DIR"

#: Share of ``--memory-limit`` the engine (DuckDB's ``memory_limit``, Spark's driver heap) is
#: given; the rest is for the data steps bring into Python (docs/methods.md, "Memory"): at 10^6
#: events they held at most 60 MB (per-case tables), 3-4 % of what the engine used.
ENGINE_SHARE = 0.85

#: Rows in one of DuckDB's row groups, the unit its scans are split into between threads.
ROW_GROUP_ROWS = 122_880

#: Bytes of a CSV file per thread of DuckDB's reader (it starts file size / this + 1 threads,
#: ``CSVGlobalState::MaxThreads``): a smaller file is read by one thread however many are set,
#: the others only add their set-up (at 10^5 events, 7.5 MB, about a quarter more CPU reading
#: it on two threads than on one).
CSV_BYTES_PER_THREAD = 8_000_000

#: Below this the engine cannot hold even a small log's working set (DuckDB's own floor for a
#: join or a sort is a few tens of MB per thread); a smaller value is refused, not obeyed.
MIN_MEMORY_BYTES = 100_000_000

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*|%)\s*$")


def physical_memory() -> int:
    """Bytes of memory this process may use: the machine's RAM, or the container's (cgroup)
    limit where that is lower.

    >>> physical_memory() > 0
    True
    """
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return int(total)


def parse_memory_limit(value: str | int, *, name: str = "--memory-limit") -> int:
    """Bytes of a memory limit written as ``600MB``, ``6GB``, ``1.5GiB`` or ``50%`` (a share of
    :func:`physical_memory`). Units as DuckDB reads them: KB/MB/GB/TB are powers of 1000,
    KiB/MiB/GiB/TiB powers of 1024. A bare number is refused (bytes or megabytes?).

    >>> parse_memory_limit("600MB"), parse_memory_limit("1.5 GiB")
    (600000000, 1610612736)
    >>> parse_memory_limit("6 apples")
    Traceback (most recent call last):
    ...
    flowlens.errors.ConfigError: --memory-limit '6 apples' is not a size (hint: write it as 600MB, 6GB, 1.5GiB or a share of the machine's memory such as 50%)
    """
    text = str(value)
    hint = "write it as 600MB, 6GB, 1.5GiB or a share of the machine's memory such as 50%"
    m = _MEMORY_RE.match(text)
    if isinstance(value, int) and not isinstance(value, bool):
        n = float(value)
    elif m is None or (m.group(2) != "%" and m.group(2).lower() not in _UNITS):
        raise ConfigError(f"{name} '{text}' is not a size", hint=hint)
    elif m.group(2) == "":
        raise ConfigError(f"{name} '{text}' has no unit", hint=hint)
    elif m.group(2) == "%":
        share = float(m.group(1))
        if not 0 < share <= 100:
            raise ConfigError(f"{name} '{text}' is not a share between 0 and 100 %", hint=hint)
        n = share / 100 * physical_memory()
    else:
        n = float(m.group(1)) * _UNITS[m.group(2).lower()]
    total = physical_memory()
    if n < MIN_MEMORY_BYTES:
        raise ConfigError(
            f"{name} '{text}' is below the {MIN_MEMORY_BYTES // 10**6} MB flowlens needs to work",
            hint=f"give at least {MIN_MEMORY_BYTES // 10**6}MB",
        )
    if n > total:
        raise ConfigError(
            f"{name} '{text}' is more than this machine's memory ({_size(total)})",
            hint="give less, e.g. 50%",
        )
    return int(n)


def _size(n: float) -> str:
    """Bytes in words, decimal units as the limits are written: ``6.0 GB``."""
    for unit, k in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n / 1000:.0f} KB"


def parse_threads(value: str | int, *, name: str = "--threads") -> int:
    """A thread count: a whole number from 1 up.

    >>> parse_threads("2")
    2
    """
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name} '{value}' is not a whole number of threads from 1 up", hint="e.g. 2")
    return int(text)


def check_temp_dir(value: str | Path, *, name: str = "--temp-dir") -> Path:
    """The folder spills go to: it must exist (or be creatable) and be writable."""
    path = Path(value).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=".flowlens-probe-", dir=path)
        os.rmdir(probe)
    except OSError as exc:
        raise ConfigError(
            f"{name} '{value}' cannot hold spill files: {exc.strerror or exc}",
            hint="give a writable folder on a disk with room for the log several times over",
        ) from exc
    return path


@dataclass(frozen=True)
class Limits:
    """What the engines may use: memory (bytes), threads and the folder they spill to.

    ``None`` leaves the engine's default (DuckDB: 80 % of memory, every core, a private folder
    in the system temp directory). Build one with :meth:`resolve`, which takes the options given
    and, for those not given, the environment variables :data:`ENV_MEMORY_LIMIT`,
    :data:`ENV_THREADS` and :data:`ENV_TEMP_DIR`.

    The memory limit is the budget of the data: the engine gets :data:`ENGINE_SHARE` of it
    (DuckDB spills to ``temp_dir`` beyond that, and recomputes a query that still does not fit
    in slices of cases), the rest is for the tables steps bring into Python (per case or per
    candidate, never one row per event of a large log). The interpreter and its libraries
    (about 300 MB for ``analyze``) come on top (docs/methods.md, "Memory").

    >>> Limits.resolve(memory_limit="6GB", threads=2, env={}).memory_bytes
    6000000000
    >>> Limits.resolve(env={"FLOWLENS_THREADS": "1"}).threads
    1
    """

    memory_bytes: int | None = None
    threads: int | None = None
    temp_dir: Path | None = None

    @classmethod
    def resolve(
        cls,
        *,
        memory_limit: str | int | None = None,
        threads: str | int | None = None,
        temp_dir: str | Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Limits:
        """Limits from the options given, else from the environment, else the defaults."""
        env = dict(os.environ) if env is None else env

        def pick(given: object, var: str, option: str) -> tuple[object, str]:
            if given is not None and given != "":
                return given, option
            value = env.get(var, "").strip()
            return (value or None), f"{var}"

        mem, mem_name = pick(memory_limit, ENV_MEMORY_LIMIT, "--memory-limit")
        thr, thr_name = pick(threads, ENV_THREADS, "--threads")
        tmp, tmp_name = pick(temp_dir, ENV_TEMP_DIR, "--temp-dir")
        return cls(
            memory_bytes=None if mem is None else parse_memory_limit(mem, name=mem_name),  # type: ignore[arg-type]
            threads=None if thr is None else parse_threads(thr, name=thr_name),  # type: ignore[arg-type]
            temp_dir=None if tmp is None else check_temp_dir(tmp, name=tmp_name),  # type: ignore[arg-type]
        )

    @property
    def engine_bytes(self) -> int | None:
        """The engine's own limit: :data:`ENGINE_SHARE` of the memory limit (the rest is for
        what steps hold in Python), or None for the engine's default.

        >>> Limits(memory_bytes=1_000_000_000).engine_bytes
        850000000
        """
        return None if self.memory_bytes is None else int(self.memory_bytes * ENGINE_SHARE)


#: The compressed in-memory catalog of a DuckDB engine: its tables (the log's and every
#: materialised one) are made there, and stored compressed once :attr:`Engine.compressed`.
STORE = "flowlens"
#: Engine memory per event the analyses of a log need (bytes; the time model's ordered passes
#: and joins at 10^7 events under a 6 GB limit): the time model works in slices of cases
#: (:func:`flowlens.timing.model.case_slices`) and the engine stores its tables compressed
#: (:meth:`Engine.compress_for`, methods 4.1) on a log that needs more than the engine's memory.
BYTES_PER_EVENT = 500


@dataclass
class Engine:
    """A connection to one engine: an Ibis backend plus, for DuckDB, the raw connection."""

    name: str
    backend: BaseBackend
    duckdb: duckdb.DuckDBPyConnection | None = None
    workdir: Path | None = field(default=None, repr=False)
    limits: Limits = field(default_factory=Limits)
    _counter: int = field(default=0, repr=False)
    #: DuckDB: tables are stored compressed (see :meth:`compress_for`)
    compressed: bool = False
    #: DuckDB: a :meth:`single_thread` block is open (an inner one then changes nothing)
    _single: bool = field(default=False, repr=False)

    def table(self, name: str) -> ibis.Table:
        return self.backend.table(name)

    @property
    def memory_budget(self) -> int:
        """Bytes the engine may hold: its limit (:attr:`Limits.engine_bytes`), else DuckDB's
        default, 80 % of the machine's memory."""
        limit = self.limits.engine_bytes
        return (
            limit
            if limit is not None
            else int(0.8 * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        )

    @property
    def python_budget(self) -> int:
        """Bytes a step may hold in Python at once beside the engine: the share of the memory
        limit the engine is not given (1 - :data:`ENGINE_SHARE`), else that share in proportion
        to DuckDB's default. Steps that read an event-sized table read it in chunks this big.

        >>> duckdb_engine(memory_limit="1GB").python_budget
        150000000
        """
        if self.limits.memory_bytes is not None and self.limits.engine_bytes is not None:
            return self.limits.memory_bytes - self.limits.engine_bytes
        return int(self.memory_budget * (1 - ENGINE_SHARE) / ENGINE_SHARE)

    def compress_for(self, n_events: int) -> bool:
        """Store this DuckDB engine's tables compressed from now on (the log's table at once)
        when ``n_events`` events need more than the engine's memory (:data:`BYTES_PER_EVENT`
        each; DuckDB's default limit is 80 % of the machine's memory): the same values, in
        a fifth to a tenth of the memory and spill (a log of 10^8 events: its event table
        from 10 GB to ~2 GB), at the cost of one compression pass per table. Smaller logs
        stay uncompressed, as compressing costs more than it saves there. Returns
        :attr:`compressed`.

        >>> eng = duckdb_engine(memory_limit="200MB")
        >>> eng.compress_for(1_000), eng.compress_for(10**6)
        (False, True)
        """
        if self.name != "duckdb" or self.duckdb is None:
            return False
        if n_events * BYTES_PER_EVENT > self.memory_budget:
            if not self.compressed:
                # DuckDB's own checkpoints again (after every 16 MiB written; off until now,
                # see duckdb_engine): a table too large to wait for the next explicit one, such
                # as a slice-by-slice materialisation, is compressed as it grows.
                self.duckdb.execute("RESET checkpoint_threshold")
            self.compressed = True
            self._compress()
        return self.compressed

    def _compress(self) -> None:
        """Compress the tables made or changed since the last call (DuckDB's checkpoint of the
        in-memory catalog compresses each table once; the others are left as they are)."""
        if self.compressed and self.duckdb is not None:
            import duckdb

            # Storage only: while another transaction holds the catalog (a result still being
            # read through a cursor) the tables stay as they are, and the next call compresses
            # them.
            with contextlib.suppress(duckdb.TransactionException):
                self.duckdb.execute(f"CHECKPOINT {STORE}")

    def _next_name(self, prefix: str) -> str:
        """A name for a new stored table. Spark's temporary views live in the session, which
        every Spark engine of the process shares: numbered across them, else a second log's
        tables would replace the first's."""
        self._counter = next(_SPARK_VIEW_NUMBERS) if self.name == "spark" else self._counter + 1
        return f"{prefix}_{self._counter}"

    def materialize(self, expr: ibis.Table, *, prefix: str = "fl", transient: bool = False) -> ibis.Table:
        """Compute ``expr`` once into a temporary table and return that table.

        Ibis's own ``cache()``/``create_table`` do not work with DuckDB 2.0 (docs/engine.md),
        so DuckDB gets ``CREATE TABLE ... AS`` with the compiled SQL (in the engine's
        in-memory catalog :data:`STORE`, compressed when :attr:`compressed`); Spark
        checkpoints a temporary view.

        Under a memory limit, a query that does not fit (DuckDB spills sorts, joins and
        aggregates, but a window over all events or a wide join can still run out) is computed
        again in slices of cases (:meth:`_materialize_in_slices`) when its result has a
        ``case_idx`` or ``eid`` column: the same rows, each slice within the limit.

        ``transient``: the table is read a few times and dropped soon after (a step inside one
        slice of cases): never compressed, as compressing it would cost more than holding it.
        """
        import duckdb
        import ibis

        name = self._next_name(prefix)
        # Registers the in-memory tables (memtables) the expression refers to.
        self.backend._run_pre_execute_hooks(expr)  # type: ignore[attr-defined]
        if self.name == "duckdb":
            assert self.duckdb is not None
            sql = ibis.to_sql(expr, dialect="duckdb")
            # a transient table stays out of the compressed catalog (checkpoints skip it)
            kind = "TEMP " if transient else ""
            try:
                self.duckdb.execute(f'CREATE {kind}TABLE "{name}" AS {sql}')
            except duckdb.OutOfMemoryException:
                if not self._materialize_in_slices(name, expr, kind=kind):
                    raise
            # DuckDB sums BIGINT into HUGEINT, which Ibis reads as an object column; the
            # expression's own type is int64, so store it as such.
            wide = self.duckdb.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND data_type = 'HUGEINT'",
                [name],
            ).fetchall()
            for (col,) in wide:
                self.duckdb.execute(f'ALTER TABLE "{name}" ALTER COLUMN "{col}" TYPE BIGINT')
            if not transient:
                self._compress()
            return self.backend.table(name)
        session = self.backend._session  # type: ignore[attr-defined]
        frame = session.sql(str(ibis.to_sql(expr, dialect="pyspark")))
        # A checkpoint, not cache(): it cuts the lineage, so plans built on materialised tables
        # stay small (a cached view keeps its whole plan, and plans that read it several times
        # grow until the driver runs out of memory printing them).
        frame.localCheckpoint(eager=True).createOrReplaceTempView(name)
        return self.backend.table(name)

    def append(self, table: ibis.Table | None, rows: pa.Table, *, prefix: str = "fl") -> ibis.Table:
        """Add ``rows`` (Arrow) to ``table``, a table :meth:`materialize` or this method made
        (None: a new table), and return it: results computed in Python a chunk at a time go to
        the engine as they are made, so Python never holds them all.

        >>> import pyarrow as pa
        >>> eng = duckdb_engine()
        >>> t = eng.append(None, pa.table({"eid": [1, 2]}))
        >>> eng.append(t, pa.table({"eid": [3]})).eid.sum().to_pyarrow().as_py()
        6
        """
        import ibis

        if self.name != "duckdb":
            new = ibis.memtable(rows)
            return self.materialize(new if table is None else table.union(new, distinct=False), prefix=prefix)
        assert self.duckdb is not None
        if table is None:
            name = self._next_name(prefix)
            sql = f'CREATE TABLE "{name}" AS SELECT * FROM fl_append_rows'
        else:
            name = table.get_name()
            sql = f'INSERT INTO "{name}" SELECT * FROM fl_append_rows'
        self.duckdb.register("fl_append_rows", rows)
        try:
            self.duckdb.execute(sql)
        finally:
            self.duckdb.unregister("fl_append_rows")
        self._compress()
        return self.backend.table(name)

    def _materialize_in_slices(self, name: str, expr: ibis.Table, slices: int = 4, kind: str = "") -> bool:
        """Create table ``name`` from ``expr`` slice by slice of the log's cases (``case_idx``
        ranges; ``eid`` ranges of the same cases), halving a slice that still runs out of
        memory. Filtering the result by case is exact whatever the query computes (the slices
        partition its rows, NULL keys included); it saves memory where the engine pushes the
        filter down, as it does through joins, aggregates and windows keyed by the case or the
        instance. False when the result has no such column or the engine has no event table.
        """
        import duckdb
        import ibis

        from flowlens.relational import CASE_KEY_SCALE

        assert self.duckdb is not None
        con = self.duckdb
        key = next((k for k in CASE_KEY_SCALE if k in expr.columns), None)
        has_events = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events'"
        ).fetchall()[0][0]
        if key is None or not has_events:
            return False
        top = con.execute("SELECT max(case_idx) FROM events").fetchall()[0][0]
        n_cases = int(top) + 1 if top is not None else 0
        if n_cases == 0:
            return False
        scale = CASE_KEY_SCALE[key]
        col = expr[key]
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
        created = False

        def run(part: ibis.Table) -> None:
            nonlocal created
            self.backend._run_pre_execute_hooks(part)  # type: ignore[attr-defined]
            sql = ibis.to_sql(part, dialect="duckdb")
            if created:
                con.execute(f'INSERT INTO "{name}" {sql}')
            else:
                con.execute(f'CREATE {kind}TABLE "{name}" AS {sql}')
                created = True

        step = -(-n_cases // slices)
        todo = [(lo, min(n_cases, lo + step)) for lo in range(0, n_cases, step)]
        while todo:
            lo, hi = todo.pop(0)
            # the last slice is open-ended: a filtered log's cases are a subset of the events'
            cond = col >= lo * scale if hi >= n_cases else (col >= lo * scale) & (col < hi * scale)
            try:
                run(expr.filter(cond))
            except duckdb.OutOfMemoryException:
                if hi - lo <= 1:
                    raise
                mid = (lo + hi) // 2
                todo[:0] = [(lo, mid), (mid, hi)]
        run(expr.filter(col.isnull() | (col < 0)))
        return True

    def threads_for(self, n_rows: int) -> contextlib.AbstractContextManager[None]:
        """Run the block's DuckDB statements on one thread when their input, ``n_rows`` rows,
        fits in one row group (:data:`ROW_GROUP_ROWS`); otherwise, and on other engines, as
        set. The engine splits a scan by row groups, so on one row group further threads only
        add their own set-up to sorts, joins and windows (at 10^5 events, building the events
        table took about a third more CPU on two threads than on one). Results do not depend
        on the number of threads.

        >>> eng = duckdb_engine(threads=2)
        >>> with eng.threads_for(1_000):
        ...     eng.setting("threads")
        '1'
        >>> eng.setting("threads")
        '2'
        """
        return self.single_thread(n_rows <= ROW_GROUP_ROWS)

    @contextlib.contextmanager
    def single_thread(self, when: bool = True) -> Iterator[None]:
        """Run the block's DuckDB statements on one thread when ``when`` holds, then restore the
        setting; inside another such block (or on other engines) nothing changes, so nested
        blocks cost no statement.

        >>> eng = duckdb_engine(threads=2)
        >>> with eng.single_thread(), eng.threads_for(10**9):
        ...     eng.setting("threads")
        '1'
        >>> eng.setting("threads")
        '2'
        """
        if self.duckdb is None or not when or self._single:
            yield
            return
        before = self.setting("threads")
        self.duckdb.execute("SET threads = 1")
        self._single = True
        try:
            yield
        finally:
            self._single = False
            self.duckdb.execute(f"SET threads = {int(before)}")

    def setting(self, name: str) -> str:
        """A DuckDB setting as the connection has it (e.g. ``memory_limit``, ``threads``)."""
        if self.duckdb is None:
            raise EngineError(f"the {self.name} engine has no DuckDB settings")
        # fetchall: a result left unfinished would block the next query on the connection
        rows = self.duckdb.execute("SELECT current_setting(?)", [name]).fetchall()
        return str(rows[0][0]) if rows else ""


def _workdir(parent: Path | None = None) -> Path:
    """A private scratch folder for spills and engine hand-over files, removed at exit."""
    d = Path(tempfile.mkdtemp(prefix="flowlens-", dir=parent))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


#: A checkpoint threshold never reached in memory: DuckDB does not checkpoint by itself.
_NO_AUTO_CHECKPOINT = "1000TB"

#: Live DuckDB connections, so that :func:`interrupt` can stop their queries.
_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def duckdb_engine(
    *,
    threads: int | None = None,
    memory_limit: str | int | None = None,
    temp_dir: str | Path | None = None,
    limits: Limits | None = None,
) -> Engine:
    """A fresh in-memory DuckDB connection that spills to a private temp folder.

    ``limits`` (or the three keywords, resolved with the environment by :meth:`Limits.resolve`)
    set its ``memory_limit``, ``threads`` and the folder the spill folder is made in.
    """
    import duckdb

    # The backend class itself: ``ibis.duckdb`` finds it through the installed packages' entry
    # points on first use, a scan of every distribution's metadata (~25 ms CPU, a tenth of the
    # bundle at 10^5 events). The DuckDB backend registers no options, so nothing else differs.
    from ibis.backends.duckdb import Backend

    if limits is None:
        limits = Limits.resolve(memory_limit=memory_limit, threads=threads, temp_dir=temp_dir)
    workdir = _workdir(limits.temp_dir)
    con = duckdb.connect(":memory:")
    # Tables are made in an in-memory catalog that can store them compressed (Engine.compress_for)
    con.execute(f"ATTACH ':memory:' AS {STORE} (COMPRESS)")
    con.execute(f"USE {STORE}")
    # Only Engine.compress_for decides to compress: DuckDB would otherwise checkpoint the
    # catalog by itself after every 16 MiB written, compressing every table of every log (at
    # 10^5 events that alone was a fifth of reading a CSV).
    con.execute(f"SET checkpoint_threshold = '{_NO_AUTO_CHECKPOINT}'")
    con.execute(f"SET threads = {int(limits.threads or os.cpu_count() or 1)}")
    con.execute(f"SET temp_directory = '{str(workdir / 'spill').replace(chr(39), chr(39) * 2)}'")
    # Timestamps are stored as UTC microseconds; the session zone only affects parsing,
    # which sets it explicitly.
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB draws a progress bar on stdout for long queries, which would corrupt --json.
    con.execute("SET enable_progress_bar = false")
    if limits.engine_bytes is not None:
        con.execute(f"SET memory_limit = '{limits.engine_bytes}B'")
        # Give freed memory back to the system after every bulk release (a dropped staging
        # table, a finished join): by default the allocator keeps up to 512 MB of it, which the
        # process would carry on top of the limit (1.26M events: 940 MB resident after reading
        # with 1 GB, 520 MB with this; any threshold above 0 kept most of it).
        con.execute("SET allocator_bulk_deallocation_flush_threshold = '0B'")
    backend = Backend.from_connection(con)
    with _LIVE_LOCK:
        _LIVE.add(con)
    return Engine(name="duckdb", backend=backend, duckdb=con, workdir=workdir, limits=limits)


def interrupt() -> int:
    """Stop the queries running in every live engine of this process (for a Ctrl-C handler):
    each DuckDB connection's current query fails with an interrupt error, and the Spark
    session's jobs are cancelled. Returns the number of engines told. Safe to call from a
    signal handler or another thread; a no-op when nothing runs.

    >>> interrupt() >= 0
    True
    """
    with _LIVE_LOCK:
        cons = list(_LIVE)
    told = 0
    for con in cons:
        try:
            con.interrupt()
            told += 1
        except Exception:  # a connection closed meanwhile has nothing to stop
            pass
    session = _SPARK.get("session")
    if session is not None:
        try:
            session.sparkContext.cancelAllJobs()
            told += 1
        except Exception:  # the JVM may already be gone
            pass
    return told


_SPARK: dict[str, Any] = {}


def spark_session(limits: Limits | None = None) -> Any:
    """The process-wide Spark session (started on first use, ~10 s).

    Run by ``spark-submit`` (:func:`submitted`), it is the session spark-submit made, on the
    cluster it names; flowlens sets only :data:`SESSION_SETTINGS`. Otherwise a local session:
    ``limits`` apply when it starts (a JVM's heap cannot change later): the memory limit
    becomes ``spark.driver.memory`` (local mode runs everything in the driver), threads
    ``local[n]``, and the temp folder ``spark.local.dir`` (shuffle and spill files).
    """
    if "session" not in _SPARK:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise EngineError(
                "the Spark engine needs the optional extra",
                hint="pip install 'flowlens[spark]' (and a Java 17+ runtime)",
            ) from exc
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise EngineError(
                "the Spark engine needs a Java runtime (java not found on PATH)",
                hint="install OpenJDK 17, e.g. apt-get install openjdk-17-jre-headless",
            )
        if submitted():
            # Started by spark-submit (or inside a pyspark shell): the cluster's master, driver
            # and executor sizes are the submitter's; only the settings results depend on are
            # set, at session level.
            session = SparkSession.builder.appName("flowlens").getOrCreate()
            for key, value in SESSION_SETTINGS.items():
                session.conf.set(key, value)
        else:
            conf = spark_config(limits or Limits.resolve())
            builder = SparkSession.builder.master(conf.pop("master")).appName("flowlens")
            for key, value in conf.items():
                builder = builder.config(key, value)
            session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        _SPARK["session"] = session
    return _SPARK["session"]


#: Spark settings the results depend on: set on every session flowlens uses, its own or the
#: one spark-submit started (timestamps are UTC microseconds; Arrow for what comes back).
SESSION_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}

#: Where the event table handed to Spark is written when executors do not share the driver's
#: disk: a folder URI every executor reads (``s3a://bucket/tmp/flowlens``, ``hdfs:///tmp/...``,
#: ``gs://...``, ``abfss://...``). Unset, the hand-over stays in the local work folder, which
#: is right for ``local[n]`` and for clusters whose nodes mount the same folder.
ENV_SPARK_STAGING = "FLOWLENS_SPARK_STAGING"


def submitted(env: dict[str, str] | None = None) -> bool:
    """True when this Python runs under spark-submit or a pyspark shell: a JVM gateway was
    handed to it, so the session (and its master) already exists.

    >>> submitted({}), submitted({"PYSPARK_GATEWAY_PORT": "41234"})
    (False, True)
    """
    env = dict(os.environ) if env is None else env
    return bool(env.get("PYSPARK_GATEWAY_PORT"))


def stage_for_spark(local: Path, session: Any, *, env: dict[str, str] | None = None) -> str:
    """The location Spark reads the hand-over file ``local`` from: ``local`` itself, or, with
    :data:`ENV_SPARK_STAGING` set, a copy there (through the cluster's Hadoop file systems, so
    s3a://, hdfs://, gs:// and abfss:// work with the credentials the cluster has). The staging
    folder gets a private subfolder per run; it is not removed (object stores' lifecycle rules
    or the cluster's temp cleaning do that).

    >>> stage_for_spark(Path("/tmp/x.parquet"), None, env={})
    '/tmp/x.parquet'
    """
    env = dict(os.environ) if env is None else env
    root = env.get(ENV_SPARK_STAGING, "").strip().rstrip("/")
    if not root:
        return str(local)
    import uuid

    jvm = session.sparkContext._jvm
    dest = f"{root}/flowlens-{uuid.uuid4().hex}/{local.name}"
    dst = jvm.org.apache.hadoop.fs.Path(dest)
    try:
        fs = dst.getFileSystem(session.sparkContext._jsc.hadoopConfiguration())
        fs.copyFromLocalFile(False, True, jvm.org.apache.hadoop.fs.Path(local.resolve().as_uri()), dst)
    except Exception as exc:  # py4j wraps the JVM's errors; one line for the user
        raise EngineError(
            f"{ENV_SPARK_STAGING}='{root}': cannot write the event table there ({str(exc).splitlines()[0]})",
            hint="give a folder URI every executor can read and the driver can write (s3a://, hdfs://, ...)",
        ) from exc
    return dest


def spark_config(limits: Limits, *, env: dict[str, str] | None = None) -> dict[str, str]:
    """The local Spark session's master and settings for ``limits``: threads as ``local[n]``
    (default ``FLOWLENS_SPARK_MASTER``, else ``local[2]``), the engine's share of the memory
    limit as ``spark.driver.memory`` (local mode runs everything in the driver's heap), and a
    private folder in the temp folder as ``spark.local.dir`` (shuffle and spill files).

    >>> spark_config(Limits(memory_bytes=2_000_000_000, threads=1), env={})["master"]
    'local[1]'
    """
    env = dict(os.environ) if env is None else env
    master = env.get("FLOWLENS_SPARK_MASTER", "local[2]")
    conf = {
        "master": f"local[{limits.threads}]" if limits.threads else master,
        **SESSION_SETTINGS,
        "spark.sql.shuffle.partitions": env.get("FLOWLENS_SPARK_PARTITIONS", "8"),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }
    if limits.engine_bytes:
        # whole mebibytes, as the JVM reads them (-Xmx)
        conf["spark.driver.memory"] = f"{limits.engine_bytes // 2**20}m"
    if limits.temp_dir:
        conf["spark.local.dir"] = str(_workdir(limits.temp_dir))
    return conf


def spark_engine(limits: Limits | None = None) -> Engine:
    """An Ibis backend over the local Spark session (``limits``: see :func:`spark_session`)."""
    import ibis

    limits = limits or Limits.resolve()
    session = spark_session(limits)
    return Engine(
        name="spark",
        backend=ibis.pyspark.connect(session),
        workdir=_workdir(limits.temp_dir),
        limits=limits,
    )


def check_engine_name(name: str) -> str:
    if name not in ENGINES:
        raise ConfigError(f"unknown engine '{name}'; choose one of {', '.join(ENGINES)}")
    return name
