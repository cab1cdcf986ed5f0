"""Generate the malformed-input corpus in ``tests/data/malformed/`` (deterministic).

Run ``python tests/data/make_malformed.py`` from the repository root; it rewrites every file
byte for byte the same (gzip without a timestamp, random bytes from a fixed seed, Parquet
without creation metadata that depends on the clock). ``tests/test_malformed.py`` checks
that the committed files match what this script makes, so the corpus and the script cannot
drift apart.

Each file is tiny and exercises one way a log can be broken; the expected behaviour of each
is asserted in ``tests/test_malformed.py``.
"""

from __future__ import annotations

import gzip
import io
import random
import struct
import sys
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "malformed"

GOOD_ROWS = [
    ("c1", "open", "2024-03-01T09:00:00", "alice"),
    ("c1", "check", "2024-03-01T09:30:00", "bob"),
    ("c1", "close", "2024-03-01T10:00:00", "alice"),
    ("c2", "open", "2024-03-02T09:00:00", "carol"),
    ("c2", "check", "2024-03-02T11:00:00", "bob"),
    ("c2", "close", "2024-03-02T12:00:00", "carol"),
]


def csv_text(header: list[str], rows: list[tuple[str, ...]] | list[list[str]], sep: str = ",") -> str:
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    return "\n".join(lines) + "\n"


def good_csv() -> str:
    return csv_text(["case_id", "activity", "timestamp", "resource"], GOOD_ROWS)


def gz(data: bytes) -> bytes:
    """gzip with a fixed header (no file name, mtime 0) so the bytes are reproducible."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as fh:
        fh.write(data)
    return buf.getvalue()


def xes(traces: str, prolog: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + prolog
        + '<log xes.version="1.0" xmlns="http://www.xes-standard.org/">\n'
        + traces
        + "</log>\n"
    )


def event(activity: str, ts: str, extra: str = "") -> str:
    return (
        f'    <event><string key="concept:name" value="{activity}"/>'
        f'<date key="time:timestamp" value="{ts}"/>{extra}</event>\n'
    )


def trace(name: str | None, events: list[tuple[str, str]]) -> str:
    head = f'    <string key="concept:name" value="{name}"/>\n' if name is not None else ""
    return "  <trace>\n" + head + "".join(event(a, t) for a, t in events) + "  </trace>\n"


GOOD_XES = xes(
    trace("t1", [("open", "2024-03-01T09:00:00+00:00"), ("close", "2024-03-01T10:00:00+00:00")])
    + trace(
        "t2",
        [
            ("open", "2024-03-02T09:00:00+00:00"),
            ("check", "2024-03-02T09:20:00+00:00"),
            ("close", "2024-03-02T10:00:00+00:00"),
        ],
    )
    + trace("t3", [("open", "2024-03-03T09:00:00+00:00"), ("close", "2024-03-03T10:00:00+00:00")])
)


def png_bytes() -> bytes:
    """A valid 1x1 PNG (magic number, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def zip_bytes() -> bytes:
    """A ZIP archive holding a CSV (what a renamed .xlsx or a zipped export looks like)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("events.csv", date_time=(2024, 1, 1, 0, 0, 0))
        zf.writestr(info, good_csv())
    return buf.getvalue()


def parquet_bytes(tz: str | None) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = [1709283600, 1709285400, 1709370000, 1709373600]  # 2024-03-01 09:00 ... UTC seconds
    table = pa.table(
        {
            "case_id": ["c1", "c1", "c2", "c2"],
            "activity": ["open", "close", "open", "close"],
            "timestamp": pa.array([s * 1_000_000 for s in base], pa.timestamp("us", tz=tz)),
            "amount": [10, 10, 25, 25],
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, store_schema=False, compression="snappy")
    return buf.getvalue()


def build() -> dict[str, bytes]:
    """File name -> exact bytes."""
    files: dict[str, bytes] = {}
    put = files.__setitem__

    # -- damaged containers ---------------------------------------------------------------
    whole = gz(good_csv().encode() * 40)
    put("truncated.csv.gz", whole[: len(whole) // 2])
    whole = gz(GOOD_XES.encode() * 1)
    put("truncated.xes.gz", whole[: len(whole) // 2])
    # Cut after more than the 1 MiB the readers sample, so the damage shows only while reading.
    long_csv = ("case_id,activity,timestamp\n" + "c1,open,2024-03-01T09:00:00\n" * 60_000).encode()
    whole = gz(long_csv)
    put("truncated_late.csv.gz", whole[: len(whole) * 9 // 10])
    long_gb = ("案例编号,活动名称,时间\n" + "A001,受理,2024-03-01 09:00:00\n" * 50_000).encode("gb18030")
    whole = gz(long_gb)
    put("truncated_late_gb18030.csv.gz", whole[: len(whole) * 9 // 10])
    long_xes = xes(trace("t1", [("open", "2024-03-01T09:00:00+00:00")]) * 2_000).encode()
    whole = gz(long_xes)
    put("truncated_late.xes.gz", whole[: len(whole) * 9 // 10])
    # Compression told by content, not by name.
    put("gzip_named.csv", gz(good_csv().encode()))
    put("plain_named.csv.gz", good_csv().encode())
    put("xes_named.csv", GOOD_XES.encode())
    put("empty.csv", b"")
    put("header_only.csv", b"case_id,activity,timestamp,resource\n")
    rng = random.Random(20240301)
    put("random.bin", bytes(rng.randrange(256) for _ in range(512)))
    # Random bytes without NUL, in a .csv: must not be decoded as some 8-bit code page.
    put("random_no_nul.csv", bytes(rng.randrange(128, 256) for _ in range(512)))
    put("image.csv", png_bytes())
    put("archive.csv", zip_bytes())

    # -- delimiters, encodings ------------------------------------------------------------
    put(
        "semicolon.csv",
        csv_text(["case_id", "activity", "timestamp", "resource"], GOOD_ROWS, ";").encode(),
    )
    put(
        "tabs.tsv",
        csv_text(["case_id", "activity", "timestamp", "resource"], GOOD_ROWS, "\t").encode(),
    )
    put("utf8_bom.csv", b"\xef\xbb\xbf" + good_csv().encode())
    gb_rows = [
        ("A001", "受理", "2024-03-01 09:00:00", "张三"),
        ("A001", "审核", "2024-03-01 09:30:00", "李四"),
        ("A001", "放款", "2024-03-01 10:00:00", "王五"),
        ("A002", "受理", "2024-03-02 09:00:00", "张三"),
        ("A002", "审核", "2024-03-02 09:45:00", "李四"),
    ]
    put(
        "gb18030.csv",
        csv_text(["案例编号", "活动名称", "时间", "处理人"], gb_rows).encode("gb18030"),
    )

    # UTF-8 with one damaged line (data row 4): that line is quarantined, the rest is read.
    damaged = [f"A{i},{'受理' if i % 2 else '审核'},2024-03-01 09:{i:02d}:00\n" for i in range(1, 13)]
    put(
        "utf8_damaged.csv",
        ("案例编号,活动名称,时间\n" + "".join(damaged[:3])).encode()
        + b"A4,\xff,2024-03-01 09:04:00\n"
        + "".join(damaged[4:]).encode(),
    )

    # -- missing columns ------------------------------------------------------------------
    put(
        "missing_case.csv",
        csv_text(["activity", "timestamp", "resource"], [r[1:] for r in GOOD_ROWS]).encode(),
    )
    put(
        "missing_activity.csv",
        csv_text(["case_id", "timestamp", "resource"], [(r[0], r[2], r[3]) for r in GOOD_ROWS]).encode(),
    )
    put(
        "missing_timestamp.csv",
        csv_text(["case_id", "activity", "resource"], [(r[0], r[1], r[3]) for r in GOOD_ROWS]).encode(),
    )

    # -- rows the gate sets aside -----------------------------------------------------------
    # Data rows 3, 5, 6 (file lines 4, 6, 7) are bad; row numbers in quarantine are 1-based
    # data rows (the header is not a row).
    put(
        "garbage_timestamps.csv",
        csv_text(
            ["case_id", "activity", "timestamp"],
            [
                ("c1", "open", "2024-03-01T09:00:00"),
                ("c1", "check", "2024-03-01T09:30:00"),
                ("c1", "close", "not a date"),
                ("c2", "open", "2024-03-02T09:00:00"),
                ("c2", "check", "2024-13-45T25:61:00"),
                ("c2", "close", ""),
                ("c3", "open", "2024-03-03T09:00:00"),
            ],
        ).encode(),
    )
    put(
        "end_before_start.csv",
        csv_text(
            ["case_id", "activity", "start_time", "end_time"],
            [
                ("c1", "open", "2024-03-01T09:00:00", "2024-03-01T09:10:00"),
                ("c1", "check", "2024-03-01T10:00:00", "2024-03-01T09:30:00"),
                ("c1", "close", "2024-03-01T10:00:00", "2024-03-01T10:05:00"),
                ("c2", "open", "2024-03-02T09:00:00", "2024-03-02T08:59:59"),
                ("c2", "close", "2024-03-02T10:00:00", "2024-03-02T10:00:00"),
            ],
        ).encode(),
    )
    put(
        "duplicates.csv",
        csv_text(
            ["case_id", "activity", "timestamp", "resource"],
            [
                GOOD_ROWS[0],
                GOOD_ROWS[1],
                GOOD_ROWS[1],
                GOOD_ROWS[2],
                GOOD_ROWS[3],
                GOOD_ROWS[3],
                GOOD_ROWS[3],
                GOOD_ROWS[4],
            ],
        ).encode(),
    )
    put(
        "missing_values.csv",
        csv_text(
            ["case_id", "activity", "timestamp"],
            [
                ("c1", "open", "2024-03-01T09:00:00"),
                ("", "check", "2024-03-01T09:30:00"),
                ("c1", "", "2024-03-01T09:40:00"),
                ("c1", "close", "2024-03-01T10:00:00"),
            ],
        ).encode(),
    )
    # Line 3 has a field too many, line 5 one too few (data rows 2 and 4).
    put(
        "ragged.csv",
        (
            b"case_id,activity,timestamp\n"
            b"c1,open,2024-03-01T09:00:00\n"
            b"c1,check,2024-03-01T09:30:00,extra\n"
            b"c1,close,2024-03-01T10:00:00\n"
            b"c2,open\n"
            b"c2,close,2024-03-02T10:00:00\n"
            b"c3,open,2024-03-03T09:00:00\n"
            b"c3,close,2024-03-03T10:00:00\n"
        ),
    )
    # Runs of malformed rows, at the start and at the end: data rows 1, 2, 4, 5, 6 and 8.
    put(
        "ragged_runs.csv",
        b"case_id,activity,timestamp\n"
        b"c1,open\n"
        b"c1,open,2024-03-01T09:00:00,x\n"
        b"c1,check,2024-03-01T09:30:00\n"
        b"c1\n"
        b"c1,a,b,c,d\n"
        b"c1,close\n"
        b"c1,close,2024-03-01T10:00:00\n"
        b"c2,open,2024-03-02T09:00:00,x,y\n",
    )
    # Source columns named like the quarantine's own columns.
    put(
        "quarantine_names.csv",
        (
            b"case_id,activity,timestamp,reason,raw_line\n"
            b"c1,open,2024-03-01T09:00:00,r1,l1\n"
            b"c1,check,never,r2,l2\n"
            b"c1,close,2024-03-01T10:00:00\n"
            b"c1,close,2024-03-01T10:30:00,r4,l4\n"
        ),
    )
    # A quarantined row whose activity is a spreadsheet formula.
    put(
        "formula.csv",
        csv_text(
            ["case_id", "activity", "timestamp"],
            [
                ("c1", "open", "2024-03-01T09:00:00"),
                ("c1", "=cmd|' /C calc'!A0", "yesterday"),
                ("c1", "close", "2024-03-01T10:00:00"),
            ],
        ).encode(),
    )

    # -- timestamp formats ----------------------------------------------------------------
    put(
        "mixed_dmy.csv",
        csv_text(
            ["case_id", "activity", "timestamp"],
            [
                ("c1", "open", "2024-03-01T09:00:00"),
                ("c1", "check", "25/03/2024 10:00"),
                ("c1", "close", "03/04/2024 11:00"),
            ],
        ).encode(),
    )
    put(
        "ambiguous_dates.csv",
        csv_text(
            ["case_id", "activity", "timestamp"],
            [
                ("c1", "open", "2024-03-01T09:00:00"),
                ("c1", "check", "03/04/2024 10:00"),
                ("c1", "close", "04/05/2024 11:00"),
            ],
        ).encode(),
    )
    put(
        "mixed_offsets.csv",
        csv_text(
            ["case_id", "activity", "timestamp"],
            [
                ("c1", "open", "2024-03-01T09:00:00+08:00"),
                ("c1", "check", "2024-03-01T09:30:00"),
                ("c1", "close", "2024-03-01T02:00:00Z"),
                ("c2", "open", "2024-03-01 12:00:00 +0100"),
            ],
        ).encode(),
    )
    put(
        "date_only.csv",
        csv_text(
            ["case_id", "activity", "timestamp"],
            [
                ("c1", "open", "2024-03-01"),
                ("c1", "close", "2024-03-04"),
                ("c2", "open", "2024-03-02"),
            ],
        ).encode(),
    )
    put(
        "epoch.csv",
        csv_text(
            ["case_id", "activity", "timestamp"],
            [
                ("c1", "open", "1709283600"),
                ("c1", "close", "1709287200"),
                ("c2", "open", "1709370000"),
            ],
        ).encode(),
    )
    put("naive_ts.parquet", parquet_bytes(None))
    put("tz_ts.parquet", parquet_bytes("Asia/Shanghai"))

    # -- lifecycle ------------------------------------------------------------------------
    put(
        "open_starts.csv",
        csv_text(
            ["case_id", "activity", "timestamp", "lifecycle:transition"],
            [
                ("c1", "review", "2024-03-01T09:00:00", "start"),
                ("c1", "review", "2024-03-01T09:30:00", "complete"),
                ("c1", "approve", "2024-03-01T10:00:00", "start"),
                ("c2", "review", "2024-03-02T09:00:00", "start"),
                ("c2", "review", "2024-03-02T09:10:00", "start"),
                ("c2", "review", "2024-03-02T09:40:00", "complete"),
            ],
        ).encode(),
    )

    # -- XES --------------------------------------------------------------------------------
    put(
        "xxe_system.xes",
        xes(
            trace("t1", [("&xxe;", "2024-03-01T09:00:00+00:00")]),
            '<!DOCTYPE log [\n  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n',
        ).encode(),
    )
    laughs = ['  <!ENTITY lol "lol">']
    for i in range(1, 10):
        prev = f"&lol{i - 1};" if i > 1 else "&lol;"
        laughs.append(f'  <!ENTITY lol{i} "{prev * 10}">')
    put(
        "billion_laughs.xes",
        xes(
            trace("t1", [("&lol9;", "2024-03-01T09:00:00+00:00")]),
            "<!DOCTYPE log [\n" + "\n".join(laughs) + "\n]>\n",
        ).encode(),
    )
    # A comment mentioning <log> before the DOCTYPE hid it from a scan of the prolog.
    put(
        "entity_after_comment.xes",
        xes(
            trace("t1", [("&secret;", "2024-03-01T09:00:00+00:00")]),
            "<!-- exported by the <log> tool -->\n"
            '<!DOCTYPE log [\n  <!ENTITY secret "EXPANDED-ENTITY">\n]>\n',
        ).encode(),
    )
    put(
        "external_dtd.xes",
        xes(
            trace("t1", [("open", "2024-03-01T09:00:00+00:00")]),
            '<!DOCTYPE log SYSTEM "http://127.0.0.1:9/xes.dtd">\n',
        ).encode(),
    )
    good = GOOD_XES.encode()
    cut = good.index(b"<date", good.index(b"check"))
    put("truncated.xes", good[: cut + 12])
    put(
        "event_outside_trace.xes",
        xes(
            trace(
                "t1",
                [("open", "2024-03-01T09:00:00+00:00"), ("close", "2024-03-01T10:00:00+00:00")],
            )
            + event("stray", "2024-03-01T09:15:00+00:00")
            + trace("t2", [("open", "2024-03-02T09:00:00+00:00")])
        ).encode(),
    )
    put(
        "trace_without_name.xes",
        xes(
            trace(
                "t1",
                [("open", "2024-03-01T09:00:00+00:00"), ("close", "2024-03-01T10:00:00+00:00")],
            )
            + trace(
                None,
                [("open", "2024-03-02T09:00:00+00:00"), ("close", "2024-03-02T10:00:00+00:00")],
            )
            + trace("t3", [("open", "2024-03-03T09:00:00+00:00")])
        ).encode(),
    )
    return files


def write(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in sorted(build().items()):
        p = out / name
        if not p.exists() or p.read_bytes() != data:
            p.write_bytes(data)
        written.append(p)
    return written


if __name__ == "__main__":
    paths = write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
    sys.stdout.write(f"{len(paths)} files in {paths[0].parent}\n")
