"""A quiet progress line on stderr for steps that take more than a moment.

Shown only when stderr is a terminal, so pipes, CI logs and ``--json`` output stay clean.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_FRAMES = "|/-\\"


class Progress:
    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        start = time.perf_counter()
        stop = threading.Event()

        def spin() -> None:
            i = 0
            while not stop.wait(0.2):
                elapsed = time.perf_counter() - start
                sys.stderr.write(f"\r{_FRAMES[i % 4]} {label} ({elapsed:.0f} s)")
                sys.stderr.flush()
                i += 1

        thread = threading.Thread(target=spin, daemon=True)
        thread.start()
        done = False
        try:
            yield
            done = True
        finally:
            stop.set()
            thread.join()
            elapsed = time.perf_counter() - start
            # a step that failed or was interrupted is cleared, so the error is the one line left
            sys.stderr.write(f"\r\033[K  {label} ({elapsed:.1f} s)\n" if done else "\r\033[K")
            sys.stderr.flush()
