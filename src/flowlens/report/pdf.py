"""Printing the report to PDF, and pictures to PNG, with headless Chromium.

The browser the report is read in is the one that prints it: the page's print style sheet puts
every section on a new page and each view of the map on a page of its own, and the static
drawings (not the sliders) are printed. Chromium is found as ``FLOWLENS_CHROMIUM`` or on the
``PATH`` (``chromium``, ``chromium-browser``, ``google-chrome``); it runs headless with no
network, sandbox, first-run or profile of the user's (a throw-away ``--user-data-dir``), and
without the header and footer it would print (date and file path).

Chromium writes two things into the PDF that change between runs of the same page (checked on
Chromium 156): the time of printing (``/CreationDate`` and ``/ModDate``), and, in the tagged
structure that makes the PDF accessible, the browser's internal number of each element
(``/ID (node00000516)``, which depends on how many nodes the page's script made before). So
:func:`fix_dates` sets both dates to one fixed date and :func:`fix_ids` renumbers the element
ids in order of first appearance (every reference to one id gets the same new one), each
written at the same length so that the cross-reference offsets stay right: the same page
prints to the same bytes.

>>> fix_dates(b"<</CreationDate (D:20261206045659+00'00')>>")
b"<</CreationDate (D:20000101000000+00'00')>>"
>>> fix_ids(b"/ID (node00000516) /ID (node00000002) /Headers [(node00000516)]")
b'/ID (node00000001) /ID (node00000002) /Headers [(node00000001)]'
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from flowlens.errors import EngineError, FlowlensError

#: Chromium's flags for every run: headless, no network of its own, nothing kept.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--hide-scrollbars",
    "--no-pdf-header-footer",
)
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_NODE = re.compile(rb"\(node(\d{6,12})\)")
_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}[^)]{0,8}\)")
#: Seconds one Chromium run may take (a large report prints in about 10 s on 2 cores).
TIMEOUT = 300.0


def find_chromium(purpose: str = "--pdf") -> str:
    """The Chromium program, or a one-line error saying how to install it."""
    given = os.environ.get("FLOWLENS_CHROMIUM")
    if given:
        if shutil.which(given) is None:
            raise EngineError(
                f"FLOWLENS_CHROMIUM={given} is not a program that can be run",
                hint="set it to the path of chromium or google-chrome, or unset it",
            )
        return given
    for name in _NAMES:
        path = shutil.which(name)
        if path is not None:
            return path
    raise EngineError(
        f"{purpose} needs headless Chromium, and none was found (chromium, chromium-browser, google-chrome)",
        hint="install it (apt-get install chromium, or ./setup.sh) or set FLOWLENS_CHROMIUM to its path",
    )


def browser_option(*, pdf: bool, png: bool) -> str:
    """The option a missing browser is named for: ``--pdf``, else ``--png``, else ``--screenshots``.

    >>> browser_option(pdf=False, png=False)
    '--screenshots'
    """
    return "--pdf" if pdf else "--png" if png else "--screenshots"


def fix_dates(pdf: bytes) -> bytes:
    """``pdf`` with its creation and modification dates set to 2000-01-01 00:00 UTC, written at
    the same length so that the cross-reference offsets stay right."""

    def fixed(m: re.Match[bytes]) -> bytes:
        old = m.group(0)
        new = b"/" + m.group(1) + b" (D:20000101000000+00'00')"
        return new if len(new) == len(old) else old

    return _DATE.sub(fixed, pdf)


def fix_ids(pdf: bytes) -> bytes:
    """``pdf`` with Chromium's element ids renumbered 1, 2, ... in order of first appearance."""
    new: dict[bytes, bytes] = {}

    def renumber(m: re.Match[bytes]) -> bytes:
        digits = m.group(1)
        if digits not in new:
            new[digits] = str(len(new) + 1).zfill(len(digits)).encode("ascii")
        out = new[digits]
        return b"(node" + out + b")" if len(out) == len(digits) else m.group(0)

    return _NODE.sub(renumber, pdf)


def chromium_command(args: Sequence[str], *, profile: str | Path, chromium: str | None = None) -> list[str]:
    """The command line of one Chromium run: :data:`FLAGS`, the throw-away ``profile`` folder
    and ``args`` (also the screenshots' run, :mod:`flowlens.report.screenshots`).

    >>> chromium_command(["about:blank"], profile="/tmp/p", chromium="chromium")[-2:]
    ['--user-data-dir=/tmp/p', 'about:blank']
    """
    return [chromium or find_chromium(), *FLAGS, f"--user-data-dir={profile}", *args]


def run_chromium(args: Sequence[str], *, chromium: str | None = None) -> None:
    """Run Chromium once with :data:`FLAGS`, a fresh profile and ``args``."""
    program = chromium or find_chromium()
    with tempfile.TemporaryDirectory(prefix="flowlens-chromium-") as profile:
        cmd = chromium_command(args, profile=profile, chromium=program)
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise FlowlensError(f"Chromium did not finish within {TIMEOUT:.0f} s ({program})") from exc
        except OSError as exc:
            raise EngineError(f"cannot run Chromium ({program}): {exc.strerror or exc}") from exc
    if done.returncode != 0:
        tail = " ".join(done.stderr.decode("utf-8", "replace").split())[-300:]
        raise FlowlensError(f"Chromium failed (exit status {done.returncode}): {tail}")


def print_pdf(html: str | Path, pdf: str | Path, *, chromium: str | None = None) -> Path:
    """Print the page ``html`` (a file) to ``pdf`` (written atomically), with fixed dates.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "p.html").write_text("<h1>hi</h1>")
    >>> try:
    ...     print_pdf(d / "p.html", d / "p.pdf").read_bytes()[:5]
    ... except EngineError:  # no Chromium here
    ...     b"%PDF-"
    b'%PDF-'
    """
    from flowlens.outputs import write_bytes

    src = Path(html).resolve()
    with tempfile.TemporaryDirectory(prefix="flowlens-pdf-") as tmp:
        out = Path(tmp) / "report.pdf"
        run_chromium([f"--print-to-pdf={out}", src.as_uri()], chromium=chromium)
        if not out.is_file() or out.stat().st_size == 0:
            raise FlowlensError(f"Chromium wrote no PDF for {src.name}")
        data = fix_ids(fix_dates(out.read_bytes()))
    return write_bytes(pdf, data)


def screenshot(
    html: str | Path, png: str | Path, *, width: int, height: int, scale: int = 2, chromium: str | None = None
) -> Path:
    """A PNG of the first ``width`` x ``height`` CSS pixels of the page ``html``, at ``scale``
    device pixels per CSS pixel."""
    src = Path(html).resolve()
    out = Path(png)
    run_chromium(
        [
            f"--screenshot={out}",
            f"--window-size={width},{height}",
            f"--force-device-scale-factor={scale}",
            "--default-background-color=ffffffff",
            src.as_uri(),
        ],
        chromium=chromium,
    )
    if not out.is_file():
        raise FlowlensError(f"Chromium wrote no screenshot for {src.name}")
    return out
