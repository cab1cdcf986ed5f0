"""The shared real logs as the per-log benchmark scripts read them (``tests/conftest.py``
``SHARED`` names and column maps), fitted by the simulation's ``observe``: ``from shared_logs import observed`` in a script run
as ``python benchmarks/NAME.py`` (its folder is on the path).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def observed(name: str) -> Any:
    """``observe`` of shared log ``name``, or the line to print when it cannot be fitted."""
    import flowlens
    from conftest import SHARED, shared_path
    from flowlens.errors import EmptyLogError
    from flowlens.simulation.fit import observe

    kw = SHARED[name][1]
    try:
        return observe(flowlens.read_log(shared_path(name), flowlens.ColumnMap(**kw) if kw else None))
    except EmptyLogError as exc:
        return f"{name}: not fitted ({exc})"
