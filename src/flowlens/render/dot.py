"""Graphviz for every drawing flowlens makes: DOT text escaping and running ``dot``.

The process map (:mod:`flowlens.report.process_map`) and the BPMN layout
(:mod:`flowlens.discovery.bpmn`) both build DOT text and hand it to :func:`render`; this module
is the one place that knows how to quote a label and how to call Graphviz.

>>> b"<svg" in render('digraph { a -> b [label="' + dot_escape('say "hi"') + '"] }')
True
"""

from __future__ import annotations

import shutil
import subprocess

from flowlens.errors import FlowlensError


def dot_escape(text: str) -> str:
    r"""``text`` fit for a double-quoted DOT string (backslashes and quotes escaped, newlines
    as spaces).

    >>> dot_escape('a "b"\nc')
    'a \\"b\\" c'
    """
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


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
        raise FlowlensError(f"Graphviz failed: {proc.stderr.decode('utf-8', 'replace').strip()[:300]}")
    return proc.stdout
