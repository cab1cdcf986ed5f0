"""Streaming XES reader (``.xes`` and ``.xes.gz``) that never resolves XML entities.

Events are read one trace at a time with lxml's ``iterparse`` and handed to the ingest engine
in Arrow batches, so memory stays flat however long the file is. Trace attributes become
``case:<key>`` columns (pm4py's convention); event attributes keep their keys.

Security: XES comes from outside. A document type declaration that defines entities or points
at an external DTD is refused before any event is read
(:class:`~flowlens.errors.UnsafeInputError`), and the parser itself runs with entity
resolution, DTD loading and network access off. The refusal does not rely on a text scan of
the file's start alone (a comment or a long prolog could hide a declaration from it): lxml
parses the prolog with the reader's own flags up to the root element's start tag, where every
declaration has been seen and no entity in the document body has been used yet, and the
declarations it reports are checked. (libxml2 substitutes internal entities in attribute
values even with entity resolution off, which is where XES keeps its data, so refusing the
declarations is what keeps them out.)
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path
from typing import IO

import duckdb
import pyarrow as pa
from lxml import etree

from flowlens.errors import LogFormatError, UnsafeInputError
from flowlens.io.readers import RawTable, fold, free_name
from flowlens.io.source import damaged, is_gzip
from flowlens.io.timestamps import q
from flowlens.source import SourceInfo

_BATCH = 100_000
_DTD_RE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")


_PARSER_FLAGS: dict[str, bool] = {
    "resolve_entities": False,
    "load_dtd": False,
    "no_network": True,
    "huge_tree": False,
}


def _unsafe(path: Path, line: int | None) -> UnsafeInputError:
    where = f"line {line}: " if line else ""
    return UnsafeInputError(
        f"{path}: {where}the XML declares entities or an external DTD; flowlens does not "
        "expand entities or load external definitions in event logs",
        hint="remove the <!DOCTYPE ...> block; XES files do not need one",
    )


def _check_prolog(path: Path, info: SourceInfo) -> None:
    """Refuse entity declarations and external DTDs before any event is read.

    The decision is lxml's own view of the document type declaration, taken at the root
    element's start tag (see the module notes); a scan of the file's start only finds the
    line to name in the message.
    """
    with _open(path) as fh:
        try:
            head = fh.read(1 << 16)
        except (EOFError, OSError, zlib.error) as exc:
            raise damaged(path, exc) from exc
    dtd = _DTD_RE.search(head)
    line = head[: dtd.start()].count(b"\n") + 1 if dtd else None
    with _open(path) as fh:
        events = etree.iterparse(fh, events=("start",), **_PARSER_FLAGS)
        try:
            _, root = next(events)
        except StopIteration:
            raise LogFormatError(
                f"{path}: the XML document has no root element", hint="give an XES file"
            ) from None
        except etree.XMLSyntaxError as exc:
            if "entit" in str(exc).lower():
                raise _unsafe(path, line) from exc
            raise LogFormatError(
                f"{path}: line {exc.lineno}: not well-formed XES: {exc.msg}",
                hint="the file may be truncated or not XES",
            ) from exc
        except (EOFError, OSError, zlib.error) as exc:
            raise damaged(path, exc) from exc
        doc = root.getroottree().docinfo
        internal = doc.internalDTD
        declares = internal is not None and any(True for _ in internal.iterentities())
        if declares or doc.system_url or doc.public_id:
            raise _unsafe(path, line)
        info.encoding = (doc.encoding or "utf-8").lower()


class _Batcher:
    """Buffers rows and flushes them as Arrow batches into a DuckDB table.

    Attribute keys that differ only in case (``Resource`` next to ``resource``) cannot be two
    columns of one table (the engine's identifiers are case-insensitive): the later key is
    staged under a suffixed name, recorded in ``staged``.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.rows: list[dict[str, str | None]] = []
        self.keys: dict[str, None] = {}
        self.known: list[str] = []
        #: source key -> staged column name (every key seen so far)
        self.staged: dict[str, str] = {}
        self._folded: set[str] = {fold("__row")}

    def extend(self, rows: list[dict[str, str | None]]) -> None:
        for r in rows:
            self.keys.update(dict.fromkeys(r))
        self.rows.extend(rows)
        if len(self.rows) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        for k in self.keys:
            if k not in self.staged:
                name = k if k == "__row" else free_name(k, self._folded)
                self.staged[k] = name
                self._folded.add(fold(name))
        schema = pa.schema([(k, pa.string()) for k in self.keys])
        table = pa.Table.from_pylist(self.rows, schema=schema)
        table = table.rename_columns([self.staged[k] for k in self.keys])
        self.con.register("xes_batch", table)
        if not self.known:
            self.con.execute("CREATE TABLE raw AS SELECT * FROM xes_batch")
            self.known = list(self.keys)
        else:
            for col in self.keys:
                if col not in self.known:
                    self.con.execute(f"ALTER TABLE raw ADD COLUMN {q(self.staged[col])} VARCHAR")
                    self.known.append(col)
            self.con.execute("INSERT INTO raw BY NAME SELECT * FROM xes_batch")
        self.con.unregister("xes_batch")
        self.rows = []


def _attributes(el: etree._Element, prefix: str = "") -> tuple[dict[str, str | None], str | None]:
    """Top-level typed attributes of an element (nested lists and containers are skipped),
    and, when the element gives one key two different values, which (XES keys are unique
    within an element; flowlens will not pick one of them)."""
    out: dict[str, str | None] = {}
    clash = None
    for ch in el:
        value = ch.get("value")
        if value is not None:
            key = ch.get("key")
            if key is not None:
                k = prefix + key
                if k in out and out[k] != value and clash is None:
                    clash = f"attribute '{key}' given twice with different values ({out[k]!r}, {value!r})"
                out.setdefault(k, value)
    return out, clash


def load_xes(con: duckdb.DuckDBPyConnection, path: Path, info: SourceInfo) -> RawTable:
    """Stage an XES file: one row per event, trace attributes repeated as ``case:`` columns."""
    if is_gzip(path):
        info.compression = "gzip"
    _check_prolog(path, info)
    batch = _Batcher(con)
    row = 0
    empty_traces = 0
    outside = 0
    trace_events: list[dict[str, str | None]] = []
    #: events set aside by the reader: (event number, why)
    rejects: list[tuple[int, str]] = []
    with _open(path) as fh:
        parser = etree.iterparse(
            fh,
            events=("end",),
            tag=("{*}event", "{*}trace"),
            remove_comments=True,
            remove_pis=True,
            **_PARSER_FLAGS,
        )
        try:
            for _, el in parser:
                parent = el.getparent()
                if el.tag.endswith("event"):
                    row += 1
                    ev, clash = _attributes(el)
                    ev["__row"] = str(row)
                    el.clear()
                    if clash is not None:
                        rejects.append((row, f"event {clash}"))
                    elif parent is not None and parent.tag.endswith("trace"):
                        trace_events.append(ev)
                    else:
                        outside += 1
                        batch.extend([ev])
                    continue
                # end of a trace: its own attributes are its direct non-event children
                attrs, clash = _attributes(el, "case:")
                if clash is not None:
                    # every event of the trace would carry the ambiguous value
                    rejects += [(int(str(ev["__row"])), f"trace {clash}") for ev in trace_events]
                elif trace_events:
                    batch.extend([{**attrs, **ev} for ev in trace_events] if attrs else trace_events)
                else:
                    empty_traces += 1
                trace_events = []
                el.clear()
                if parent is not None:
                    while el.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as exc:
            raise LogFormatError(
                f"{path}: line {exc.lineno}: not well-formed XES: {exc.msg}",
                hint="the file may be truncated or not XES",
            ) from exc
        except (EOFError, OSError, zlib.error) as exc:
            raise damaged(path, exc) from exc
    batch.flush()
    if not batch.known:
        raise LogFormatError(
            f"{path}: the XES file contains no events",
            hint="check that it is an XES event log (<log><trace><event>...)",
        )
    if empty_traces:
        info.notes.append(f"{empty_traces:,} traces without events (no rows to read)")
    if outside:
        info.notes.append(f"{outside:,} events outside any trace (they have no case id)")
    con.execute("ALTER TABLE raw ALTER COLUMN __row TYPE BIGINT")
    columns = [k for k in batch.known if k != "__row"]
    staged = {k: v for k, v in batch.staged.items() if k != v}
    if not rejects:
        return RawTable("raw", "__row", columns, staged=staged)
    table = pa.table(
        {
            "source_row": pa.array([r for r, _ in rejects], pa.int64()),
            "detail": pa.array([d for _, d in rejects], pa.string()),
            "raw_line": pa.nulls(len(rejects), pa.string()),
        }
    )
    con.register("xes_rejects", table)
    con.execute("CREATE TABLE raw_rejects AS SELECT * FROM xes_rejects")
    con.unregister("xes_rejects")
    return RawTable("raw", "__row", columns, "raw_rejects", len(rejects), staged=staged)
