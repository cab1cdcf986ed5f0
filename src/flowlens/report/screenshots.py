"""Screenshots of the report for a README, a slide or a review: ``screenshots/*.png``.

Three pictures of the written ``report.html``, as a reader sees it in a browser 1400 CSS pixels
wide, at one device pixel per CSS pixel:

* ``first-screen.png``: the page's first 1400 x 900 screen (title, contents and the start of
  the first section);
* ``map.png``: the process map section (``#map``), whole;
* ``recommendations.png``: the recommendations section (``#recommendations``), or the first
  section of a report that has none.

They are taken by headless Chromium, the browser the report is read in and the one that prints
it (:mod:`flowlens.report.pdf`: same program, flags and throw-away profile), driven over the
DevTools protocol on a pipe (``--remote-debugging-pipe``: commands on the child's file
descriptor 3, answers on 4, each a JSON text ended by a NUL byte): Chromium's ``--screenshot``
switch captures only the window, while a section of the page needs a clip at its place. The
page is opened at the 1400 x 900 size, and pictures are taken once it has loaded, its fonts are
ready and the interactive map has drawn itself (``#fl-map[data-ready]``). A section is captured
where it lies on the page, beyond the window (``captureBeyondViewport``), with a margin of
:data:`MARGIN` pixels around it, and at most :data:`MAX_HEIGHT` pixels tall.

Each picture is decoded and written again by Pillow (RGB, zlib level 9): smaller files, and the
bytes depend only on the pixels. With the same fonts and Chromium, the same report gives the
same bytes.

>>> [name for name, _ in SHOTS]
['first-screen', 'map', 'recommendations']
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from io import BytesIO
from pathlib import Path
from typing import Any

from flowlens.errors import EngineError, FlowlensError
from flowlens.report.pdf import TIMEOUT, chromium_command, find_chromium

#: One raster thread, whole tiles, every compositor stage before a frame is drawn: on a busy
#: machine the rounded corners' anti-aliasing otherwise came out differently from run to run.
RASTER_FLAGS = (
    "--num-raster-threads=1",
    "--disable-partial-raster",
    "--run-all-compositor-stages-before-draw",
    "--disable-skia-runtime-opts",
)

#: The screen a reader sees first, in CSS pixels (a laptop browser window).
WIDTH, HEIGHT = 1400, 900
#: CSS pixels of margin kept around a captured section.
MARGIN = 12
#: A section is captured down to this many CSS pixels (a long one is cut there).
MAX_HEIGHT = 6000
#: The pictures: file name (without ``.png``) and the section it shows (CSS selectors, tried
#: in order; none: the first screen).
SHOTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("first-screen", ()),
    ("map", ("main > section#map",)),
    ("recommendations", ("main > section#recommendations", "main > section")),
)
#: True once the page can be pictured: loaded, fonts ready, the interactive map drawn.
_READY = """(() => {
  const map = document.getElementById("fl-map");
  return document.readyState === "complete" && document.fonts.status === "loaded"
    && (!map || map.hasAttribute("data-ready"));
})()"""
#: The box of the element the first matching selector finds, in page coordinates (or null).
_BOX = """((selectors) => {
  const e = selectors.map(s => document.querySelector(s)).find(x => x);
  if (!e) return null;
  const r = e.getBoundingClientRect();
  return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height,
          pageWidth: document.documentElement.scrollWidth,
          pageHeight: document.documentElement.scrollHeight};
})"""


def write_screenshots(html: str | Path, folder: str | Path, *, chromium: str | None = None) -> list[Path]:
    """Write the pictures of :data:`SHOTS` of the page ``html`` (a file) as ``folder/NAME.png``
    (each written atomically); a section the page lacks has no picture.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "p.html").write_text("<main><section id='map'><h2>Map</h2></section></main>")
    >>> try:
    ...     [p.name for p in write_screenshots(d / "p.html", d / "shots")]
    ... except EngineError:  # no Chromium here
    ...     ['first-screen.png', 'map.png', 'recommendations.png']
    ['first-screen.png', 'map.png', 'recommendations.png']
    """
    from flowlens.outputs import write_bytes

    src = Path(html).resolve()
    paths = []
    with _devtools(chromium) as tab:
        tab.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        tab.call("Page.bringToFront")  # a page in the background is not drawn
        tab.call("Page.navigate", url=src.as_uri())
        tab.wait_until(_READY, what=f"{src.name} to load")
        for name, selectors in SHOTS:
            if not selectors:
                clip = {"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT}
            else:
                box = tab.evaluate(f"{_BOX}({json.dumps(list(selectors))})")
                if box is None:
                    continue
                clip = _clip(box)
            shot = tab.call(
                "Page.captureScreenshot",
                format="png",
                clip={**clip, "scale": 1},
                captureBeyondViewport=bool(selectors),
                fromSurface=True,
            )
            paths.append(write_bytes(Path(folder) / f"{name}.png", _png(shot["data"])))
    return paths


def _clip(box: dict[str, float]) -> dict[str, int]:
    """The whole-pixel rectangle around ``box`` with :data:`MARGIN`, inside the page.

    >>> _clip({"x": 40.5, "y": 300.2, "width": 1200, "height": 500.5, "pageWidth": 1400, "pageHeight": 5000})
    {'x': 28, 'y': 288, 'width': 1225, 'height': 525}
    """
    left = max(0, int(box["x"]) - MARGIN)
    top = max(0, int(box["y"]) - MARGIN)
    right = min(int(box["pageWidth"]), int(box["x"] + box["width"] + 0.999) + MARGIN)
    bottom = min(int(box["pageHeight"]), int(box["y"] + box["height"] + 0.999) + MARGIN, top + MAX_HEIGHT)
    return {"x": left, "y": top, "width": max(1, right - left), "height": max(1, bottom - top)}


def _png(data: str) -> bytes:
    """Chromium's base64 PNG written again by Pillow (module notes)."""
    import base64

    from PIL import Image

    with Image.open(BytesIO(base64.b64decode(data))) as img:
        out = BytesIO()
        img.convert("RGB").save(out, format="PNG", compress_level=9)
    return out.getvalue()


class _Tab:
    """One page of a Chromium run, driven over the DevTools pipe."""

    def __init__(self, send: int, receive: int, deadline: float) -> None:
        self._send, self._receive, self._deadline = send, receive, deadline
        self._buffer = b""
        self._next = 0
        self.session: str | None = None

    def send(self, method: str, **params: Any) -> None:
        """Send one command (its answer, if any, is left unread)."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if self.session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        data = json.dumps(message).encode("utf-8") + b"\0"
        while data:
            data = data[os.write(self._send, data) :]

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events on the way are skipped)."""
        self.send(method, **params)
        while True:
            answer = self._message()
            if answer.get("id") != self._next:
                continue
            if "error" in answer:
                raise FlowlensError(
                    f"Chromium refused {method}: {answer['error'].get('message', answer['error'])}"
                )
            return answer.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when a promise)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            text = (
                result["exceptionDetails"].get("exception", {}).get("description")
                or result["exceptionDetails"]
            )
            raise FlowlensError(f"the report's page failed a check in Chromium: {str(text)[:200]}")
        return result.get("result", {}).get("value")

    def wait_until(self, expression: str, *, what: str) -> None:
        """Poll ``expression`` until it is true (every 50 ms, until the run's deadline)."""
        while not self.evaluate(expression):
            if time.monotonic() > self._deadline:
                raise FlowlensError(f"Chromium waited {TIMEOUT:.0f} s for {what}")
            time.sleep(0.05)

    def _message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = self._deadline - time.monotonic()
            if left <= 0 or not select.select([self._receive], [], [], left)[0]:
                raise FlowlensError(f"Chromium did not answer within {TIMEOUT:.0f} s")
            chunk = os.read(self._receive, 1 << 20)
            if not chunk:
                raise FlowlensError("Chromium ended before the screenshots were taken")
            self._buffer += chunk
        text, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(text)


@contextmanager
def _devtools(chromium: str | None) -> Iterator[_Tab]:
    """A Chromium run with a DevTools pipe and one blank page attached; closed on the way out."""
    program = shutil.which(chromium or find_chromium("--screenshots"))
    if program is None:
        raise EngineError(f"cannot run Chromium ({chromium})", hint="set FLOWLENS_CHROMIUM to its path")
    # The pipe ends the child gets as descriptors 3 and 4 are first moved above them here, so
    # that giving one its number cannot close the other; they stay close-on-exec in this process.
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome_r, from_chrome_w)]
    for fd in (to_chrome_r, from_chrome_w):
        os.close(fd)
    with tempfile.TemporaryDirectory(prefix="flowlens-chromium-") as profile:
        log = Path(profile) / "stderr.txt"
        # no window of its own: a page created beside the start-up one had its renderer
        # stopped by the browser on Chromium 156 ("Render process gone")
        cmd = chromium_command(
            ["--remote-debugging-pipe", "--no-startup-window", *RASTER_FLAGS],
            profile=profile,
            chromium=program,
        )
        try:
            pid = os.posix_spawn(
                program,
                cmd,
                os.environ,
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 2, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                    (os.POSIX_SPAWN_DUP2, high[0], 3),
                    (os.POSIX_SPAWN_DUP2, high[1], 4),
                ],
            )
        except OSError as exc:
            raise EngineError(f"cannot run Chromium ({program}): {exc.strerror or exc}") from exc
        finally:
            for fd in high:
                os.close(fd)
        tab = _Tab(to_chrome_w, from_chrome_r, time.monotonic() + TIMEOUT)
        closed = False
        try:
            try:
                target = tab.call("Target.createTarget", url="about:blank")["targetId"]
                tab.session = tab.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
                yield tab
                tab.send("Browser.close")  # Chromium may end before it answers
                closed = True
            except FlowlensError as exc:
                tail = " ".join(log.read_text("utf-8", "replace").split())[-300:] if log.is_file() else ""
                if tail:
                    raise FlowlensError(f"{exc} ({tail})") from exc
                raise
        finally:
            os.close(to_chrome_w)
            os.close(from_chrome_r)
            _reap(pid, kill=not closed)


def _reap(pid: int, *, kill: bool) -> None:
    """Wait for the Chromium process ``pid`` to end (stopping it first when ``kill``)."""
    if kill:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
