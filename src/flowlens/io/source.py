"""Telling what a log file is before reading it: its format, compression and readability.

What was detected while reading goes into :class:`flowlens.source.SourceInfo`.

>>> from flowlens.io.source import format_from_suffix
>>> format_from_suffix("calls.csv.gz")
'csv'
"""

from __future__ import annotations

import gzip
import zlib
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


#: Leading bytes of file types people mistake for event logs: (signature, what it is, hint).
_NOT_A_LOG: tuple[tuple[bytes, str, str], ...] = (
    (
        b"PK\x03\x04",
        "a ZIP archive (an Excel .xlsx workbook or a zipped export)",
        "export the sheet as CSV, or unzip the archive and read the log inside",
    ),
    (b"PK\x05\x06", "an empty ZIP archive", "export the log again"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an old Excel/Office document (.xls)",
        "export the sheet as CSV",
    ),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "give a CSV/TSV, Parquet or XES file"),
    (b"\xff\xd8\xff", "a JPEG image", "give a CSV/TSV, Parquet or XES file"),
    (b"GIF8", "a GIF image", "give a CSV/TSV, Parquet or XES file"),
    (b"%PDF-", "a PDF document", "give a CSV/TSV, Parquet or XES file"),
    (b"SQLite format 3\x00", "an SQLite database", "export the event table as CSV or Parquet"),
    (b"BZh", "a bzip2 archive", "decompress it (flowlens reads gzip-compressed files directly)"),
    (
        b"\xfd7zXZ\x00",
        "an xz archive",
        "decompress it (flowlens reads gzip-compressed files directly)",
    ),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "extract the log from it"),
    (
        b"\x28\xb5\x2f\xfd",
        "a zstd archive",
        "decompress it (flowlens reads gzip-compressed files directly)",
    ),
)


def format_from_suffix(path: str | Path) -> str | None:
    """The format a file's name claims (``.csv``, ``.tsv``, ``.parquet``, ``.xes``, each
    optionally ``.gz``), or None."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _SUFFIXES.get(suffixes[-1]) if suffixes else None


def detect_format(path: str | Path, head: bytes | None = None) -> str:
    """Format of a log file: its content where the first bytes are unambiguous (Parquet's
    ``PAR1``, an XML prolog), otherwise its suffix, otherwise CSV.

    Files that are clearly something else (a ZIP archive or Excel workbook, an image, a PDF,
    another compression format) are refused with :class:`~flowlens.errors.LogFormatError`
    saying what they are. ``head`` is the first (decompressed) bytes of the file.

    >>> detect_format("calls.tsv", b"case;activity")
    'csv'
    >>> detect_format("calls.csv", b"PAR1...")
    'parquet'
    """
    p = Path(path)
    if head is None:
        head = read_head(p, 4096)
    for magic, what, hint in _NOT_A_LOG:
        if head.startswith(magic):
            raise LogFormatError(f"{p}: this is {what}, not an event log", hint=hint)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"<?xml", b"<log", b"<!--", b"<!DOCTYPE")):
        return "xes"
    if text.startswith((b"\xff\xfe<\x00", b"\xfe\xff\x00<")):  # UTF-16 XML
        return "xes"
    return format_from_suffix(p) or "csv"


def is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def damaged(path: Path, exc: BaseException) -> LogFormatError:
    """The error for a file that ends early or whose compression is broken."""
    return LogFormatError(
        f"{path}: the file is truncated or damaged ({exc})",
        hint="download or export the file again",
    )


def read_head(path: Path, n: int) -> bytes:
    """The first ``n`` (decompressed) bytes of a file, with clear errors for unreadable ones."""
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as fh:
                return fh.read(n)
        with path.open("rb") as fh:
            return fh.read(n)
    except (EOFError, OSError, zlib.error) as exc:
        raise damaged(path, exc) from exc


def check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected an event-log file")
    if path.stat().st_size == 0:
        raise LogFormatError(f"{path}: the file is empty (0 bytes)", hint="export or download the log again")


def verify_gzip(path: Path) -> None:
    """Read a gzip file to its end, so that a truncated archive fails before analysis."""
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 22):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise damaged(path, exc) from exc
