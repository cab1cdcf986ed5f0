"""Importing pm4py quietly, only where it is needed.

pm4py takes about 1.6 s to import and prints a licence banner on stdout, which must never
reach a flowlens user's terminal or ``--json`` output. Code that needs pm4py calls
:func:`pm4py` instead of importing it at module level.
"""

from __future__ import annotations

import contextlib
import io
from types import ModuleType

_MODULE: list[ModuleType] = []


def pm4py() -> ModuleType:
    """The pm4py module, imported once with its start-up output swallowed."""
    if not _MODULE:
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            import pm4py as module
        _MODULE.append(module)
    return _MODULE[0]
