"""Running independent simulation work in worker processes (replications, scoring).

>>> run_in_processes(pow, [(2, 3), (3, 2)], jobs=1)
[8, 9]
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any


def run_in_processes(fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]], jobs: int) -> list[Any]:
    """``[fn(*args) for args in calls]``, in up to ``jobs`` fresh (spawned) processes when there
    are several: a fork of a process that has run DuckDB and Arrow threads can die on a lock held
    by a thread that does not exist in the child. On an error or Ctrl-C the workers are killed
    at once instead of after their current call. Results come in the order of ``calls``."""
    if jobs <= 1 or len(calls) <= 1:
        return [fn(*args) for args in calls]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=min(jobs, len(calls)), mp_context=mp.get_context("spawn"))
    try:
        futures = [pool.submit(fn, *args) for args in calls]
        out = [f.result() for f in futures]
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


__all__ = ["run_in_processes"]
