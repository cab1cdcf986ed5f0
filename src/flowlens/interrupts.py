"""Ctrl-C, out of memory and a full disk: one line and a prompt exit, never a traceback.

**Ctrl-C.** Python runs a signal handler only between bytecodes of the main thread, and a
DuckDB query holds the main thread in C++ until it ends (minutes on a large log). So
:func:`handling_interrupts` also has the signal written to a socket (``signal.set_wakeup_fd``)
that a small thread watches: on the first Ctrl-C it interrupts every engine flowlens opened
(:func:`flowlens.engine.interrupt`: DuckDB queries, Spark jobs) and keeps interrupting new queries, so the run stops within
a moment; the main thread then unwinds (staging folders of :mod:`flowlens.outputs` are
removed on the way) and the command prints ``flowlens: interrupted`` and exits with 130. A
second Ctrl-C exits at once (staging folders removed, status 130).

**Resources.** :func:`classify` turns what a run raises when the machine runs out of memory
(DuckDB's ``OutOfMemoryException``, ``MemoryError`` including numpy's and Arrow's) or of disk
(``OSError`` ``ENOSPC``/``EDQUOT``, DuckDB's "No space left on device" when it spills) into a
:class:`~flowlens.errors.ResourceError` whose one line says what to do, and an interrupt into
:class:`~flowlens.errors.RunInterrupted`. The exception and its causes are all looked at, so a
reader's "cannot read the file" raised from DuckDB's out-of-memory still reads as out of memory.

>>> from flowlens.interrupts import classify
>>> print(classify(MemoryError("Unable to allocate 8.00 GiB for an array")))
out of memory: Unable to allocate 8.00 GiB for an array (hint: give DuckDB a bound below the free memory with --memory-limit (e.g. --memory-limit 4GB) so it spills to disk, use fewer --threads, or analyse a part of the log (--from/--to, --where))
>>> classify(ValueError("a bug")) is None
True
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

from flowlens.errors import (
    DiskFullError,
    FlowlensError,
    OutOfMemoryError,
    ResourceError,
    RunInterrupted,
)

_STATE = {"signals": 0, "requested": False, "reported": False, "installed": False}
_FORK_HOOK: list[bool] = []
_LOCK = threading.Lock()
#: How often queries are interrupted again after a Ctrl-C (a swallowed interrupt must not let
#: the next query run to its end).
_REPEAT_S = 0.1


def requested() -> bool:
    """True once the user pressed Ctrl-C in this process (under :func:`handling_interrupts`)."""
    return bool(_STATE["requested"])


def interrupt_queries() -> None:
    """Interrupt the queries running in every live engine (from any thread)."""
    from flowlens.engine import interrupt

    interrupt()


def report_interrupted() -> None:
    """Print ``flowlens: interrupted`` on stderr, once per process."""
    with _LOCK:
        if _STATE["reported"]:
            return
        _STATE["reported"] = True
    with contextlib.suppress(OSError):
        # \r\033[K clears a progress line; plain \n when stderr is not a terminal
        lead = b"\r\033[K" if os.isatty(2) else b""
        os.write(2, lead + b"flowlens: interrupted\n")


def _hard_exit() -> None:
    import sys

    from flowlens.outputs import remove_staging

    report_interrupted()
    with contextlib.suppress(Exception):
        remove_staging()
    if "multiprocessing" in sys.modules:
        # worker processes (the generator's) would outlive a hard exit, waiting for work
        with contextlib.suppress(Exception):
            for child in sys.modules["multiprocessing"].active_children():
                child.kill()
    os._exit(130)


def _after_fork_in_child() -> None:
    """A forked worker (the generator's pool) leaves Ctrl-C to the parent, which stops it: it
    neither writes to the parent's wakeup socket (the parent would count one Ctrl-C several
    times) nor dies with a traceback of its own."""
    if not _STATE["installed"]:
        return
    _STATE["installed"] = False
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _watch(reader: socket.socket, stop: threading.Event) -> None:
    keep_interrupting = False
    while not stop.is_set():
        reader.settimeout(_REPEAT_S if keep_interrupting else None)
        try:
            data = reader.recv(64)
        except TimeoutError:
            interrupt_queries()
            continue
        except OSError:
            return
        if not data or stop.is_set():
            return
        for byte in data:
            if byte != signal.SIGINT:
                continue
            with _LOCK:
                _STATE["requested"] = True
                _STATE["signals"] += 1
                count = _STATE["signals"]
            if count >= 2:
                _hard_exit()
            keep_interrupting = True
            interrupt_queries()


def _on_sigint(signum: int, frame: Any) -> None:
    # The watcher counts signals; this runs in the main thread when Python gets to it.
    _STATE["requested"] = True
    if not _STATE["reported"]:
        raise KeyboardInterrupt


@contextlib.contextmanager
def handling_interrupts() -> Iterator[None]:
    """Handle Ctrl-C as the module notes say for the block (a no-op outside the main thread).

    >>> with handling_interrupts():
    ...     requested()
    False
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _STATE.update(signals=0, requested=False, reported=False)  # a new run in this process
    if not _FORK_HOOK and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _FORK_HOOK.append(True)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    stop = threading.Event()
    try:
        old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except (ValueError, OSError):  # no wakeup fd possible here: plain KeyboardInterrupt
        reader.close()
        writer.close()
        yield
        return
    old_handler = signal.signal(signal.SIGINT, _on_sigint)
    _STATE["installed"] = True
    watcher = threading.Thread(target=_watch, args=(reader, stop), name="flowlens-sigint", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        _STATE["installed"] = False
        signal.signal(signal.SIGINT, old_handler)
        signal.set_wakeup_fd(old_fd)
        stop.set()
        with contextlib.suppress(OSError):
            writer.send(b"\xff")  # wakes the watcher so it sees stop
        watcher.join(timeout=1)
        reader.close()
        writer.close()


# --------------------------------------------------------------------------- classifying


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen and len(seen) < 20:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def is_interrupt(exc: BaseException) -> bool:
    """True for Ctrl-C as Python or DuckDB report it.

    >>> is_interrupt(KeyboardInterrupt()), is_interrupt(RuntimeError("Query interrupted"))
    (True, True)
    """
    if isinstance(exc, (KeyboardInterrupt, RunInterrupted)) or "InterruptException" in _names(exc):
        return True
    return isinstance(exc, RuntimeError) and str(exc).strip() == "Query interrupted"


def is_out_of_memory(exc: BaseException) -> bool:
    """True for ``MemoryError`` (numpy's, Arrow's) and DuckDB's ``OutOfMemoryException``.

    >>> is_out_of_memory(MemoryError()), is_out_of_memory(ValueError())
    (True, False)
    """
    return isinstance(exc, MemoryError) or "OutOfMemoryException" in _names(exc)


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def classify(exc: BaseException) -> FlowlensError | None:
    """The one-line error for an interrupt, out of memory or a full disk in ``exc`` or its
    causes; None for anything else (a user error keeps its own message, a bug its traceback).

    >>> print(classify(OSError(28, "No space left on device", "/tmp/spill/x.tmp")))
    no space left on device (/tmp/spill/x.tmp) (hint: free space on that disk, write the outputs to another folder (-o), or point DuckDB's spill files to a disk with room (--temp-dir))
    >>> classify(RuntimeError("Query interrupted")).exit_code
    130
    """
    from flowlens.outputs import is_disk_full

    chain = list(_chain(exc))
    if requested() or any(is_interrupt(e) for e in chain):
        return RunInterrupted()
    for e in chain:
        if isinstance(e, ResourceError):
            return e
        if is_out_of_memory(e):
            detail = _one_line(e) or "the run needed more memory than it could have"
            return OutOfMemoryError(
                f"out of memory: {detail}",
                hint="give DuckDB a bound below the free memory with --memory-limit "
                "(e.g. --memory-limit 4GB) so it spills to disk, use fewer --threads, "
                "or analyse a part of the log (--from/--to, --where)",
            )
        if is_disk_full(e):
            where = getattr(e, "filename", None)
            detail = f" ({where})" if where else f": {_one_line(e)}" if not isinstance(e, OSError) else ""
            return DiskFullError(
                f"no space left on device{detail}",
                hint="free space on that disk, write the outputs to another folder (-o), or point "
                "DuckDB's spill files to a disk with room (--temp-dir)",
            )
    return None


__all__ = [
    "classify",
    "handling_interrupts",
    "interrupt_queries",
    "is_interrupt",
    "is_out_of_memory",
    "report_interrupted",
    "requested",
]
