"""Graphviz for every drawing flowlens makes: DOT text escaping and running ``dot``.

The process map (:mod:`flowlens.report.process_map`) and the BPMN layout
(:mod:`flowlens.discovery.bpmn`) both build DOT text and hand it to :func:`render`; this module
is the one place that knows how to quote a label and how to call Graphviz. Text from the log
reaches DOT only through :func:`dot_escape`, which first makes it visible
(:func:`flowlens.render.text.visible`: no NUL, ESC or other control character reaches
Graphviz) and keeps it far below Graphviz's 16,384-byte limit on a quoted string.

>>> b"<svg" in render('digraph { a -> b [label="' + dot_escape('say "hi"') + '"] }')
True
"""

from __future__ import annotations

import shutil
import subprocess

from flowlens.errors import FlowlensError
from flowlens.render.text import label, visible

#: The most characters of one string :func:`dot_escape` hands to Graphviz. Escaping makes one
#: character at most 5 bytes (``&`` is written ``&amp;``), and Graphviz refuses a quoted string
#: over 16,384 bytes; names are drawn much shorter (:data:`flowlens.render.text.LABEL_LIMIT`).
DOT_LIMIT = 3_000


def dot_escape(text: object) -> str:
    r"""``text`` fit for a double-quoted DOT string: unsafe characters spelled visibly
    (:func:`~flowlens.render.text.visible`; a line break reads ``\n``), backslashes and
    quotes escaped, ``&`` written ``&amp;`` (Graphviz would otherwise turn ``&#27;`` into a
    raw ESC), and at most :data:`DOT_LIMIT` characters.

    >>> dot_escape('a "b"\nc')
    'a \\"b\\"\\\\nc'
    >>> dot_escape("Open account\x00")
    'Open account\\\\x00'
    >>> dot_escape("&#27; \\N")
    '&amp;#27; \\\\N'
    """
    shown = visible(text)
    if len(shown) > DOT_LIMIT:
        shown = label(text, DOT_LIMIT)
    return shown.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")


def dot_binary() -> str:
    """The path of Graphviz's ``dot`` program; a clear error when Graphviz is missing."""
    path = shutil.which("dot")
    if path is None:
        raise FlowlensError(
            "Graphviz is not installed (the 'dot' program was not found)",
            hint="run ./setup.sh, or apt-get install graphviz / brew install graphviz",
        )
    return path


def render(dot_source: str, fmt: str = "svg", *, timeout: float = 120.0) -> bytes:
    """Lay out and render DOT with Graphviz's ``dot`` (svg, png, pdf)."""
    try:
        proc = subprocess.run(
            [dot_binary(), f"-T{fmt}"],
            input=dot_source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise FlowlensError(
            f"Graphviz took more than {timeout:.0f} s to lay out the map",
            hint="show fewer activities or paths (coverage options)",
        ) from exc
    if proc.returncode != 0:
        # Graphviz quotes the DOT it choked on, which holds text from the log: spelled visibly.
        raise FlowlensError(
            f"Graphviz failed: {visible(proc.stderr.decode('utf-8', 'replace').strip()[:300])}"
        )
    return proc.stdout
