"""Where a log came from and what the reader detected about it (format, encoding, delimiter).

>>> from flowlens.io.source import detect_format
>>> detect_format("calls.csv.gz")
'csv'
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flowlens.errors import InputError, LogFormatError

FORMATS = ("csv", "parquet", "xes")

_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xes": "xes",
    ".xml": "xes",
}


@dataclass
class SourceInfo:
    """Provenance of an event log: the input and what was detected while reading it."""

    path: str
    format: str
    compression: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    #: Per timestamp column: {format description: number of values parsed with it}.
    timestamp_formats: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def detect_format(path: str | Path, head: bytes | None = None) -> str:
    """Format by suffix (``.csv``, ``.tsv``, ``.parquet``, ``.xes``, each optionally ``.gz``),
    falling back on the first bytes of the file."""
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    if head is None:
        head = read_head(p, 4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<?xml") or text.startswith(b"<log"):
        return "xes"
    return "csv"


def is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def read_head(path: Path, n: int) -> bytes:
    """The first ``n`` (decompressed) bytes of a file, with clear errors for unreadable ones."""
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as fh:
                return fh.read(n)
        with path.open("rb") as fh:
            return fh.read(n)
    except (EOFError, OSError, zlib.error) as exc:
        raise LogFormatError(
            f"{path}: cannot read the file: {exc}",
            hint="the file may be truncated or not really gzip-compressed; re-export it",
        ) from exc


def check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected an event-log file")
    if path.stat().st_size == 0:
        raise LogFormatError(f"{path}: the file is empty (0 bytes)")


def verify_gzip(path: Path) -> None:
    """Read a gzip file to its end, so that a truncated archive fails before analysis."""
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 22):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise LogFormatError(
            f"{path}: the gzip archive is damaged or truncated ({exc})",
            hint="download or export the file again",
        ) from exc
