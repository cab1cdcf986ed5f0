"""The exceptions flowlens raises for problems a user can fix.

Every user mistake (a missing file, an unreadable log, an unknown option value) raises a
subclass of :class:`FlowlensError` whose message says what was wrong, where, and how to fix it.
The command line prints that message as one line and exits non-zero; anything else escaping
is a bug in flowlens and keeps its traceback. Running out of memory or disk and Ctrl-C are not
bugs either: the command line reports them as a :class:`ResourceError` (exit status 3) or
:class:`RunInterrupted` (status 130), see :mod:`flowlens.interrupts`; an output that cannot be
written is an :class:`OutputError` (:mod:`flowlens.outputs`).

>>> from flowlens.errors import MissingColumnError, FlowlensError
>>> issubclass(MissingColumnError, FlowlensError)
True
"""

from __future__ import annotations


class FlowlensError(Exception):
    """Base class of every error a user can act on."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        r"""The message and hint on one line, with no control character left: messages quote
        values from the log, and an ESC printed to a terminal would drive it.

        >>> FlowlensError("bad value 'x\x1b[2J'\n", hint="fix it").one_line()
        "bad value 'x\\x1b[2J' (hint: fix it)"
        """
        from flowlens.render.text import visible

        text = visible(" ".join(self.message.split()))
        if self.hint:
            text += f" (hint: {visible(' '.join(self.hint.split()))})"
        return text


class InputError(FlowlensError):
    """An input file or frame cannot be used as an event log."""


class LogFormatError(InputError):
    """The file is not a readable CSV, Parquet or XES log (or is truncated or binary)."""


class UnsafeInputError(LogFormatError):
    """The input asks for something a safe reader refuses (XML entities, external references)."""


class MissingColumnError(InputError):
    """A column the log needs (case, activity, a timestamp) is absent or not found."""


class EmptyLogError(InputError):
    """The log has no usable events after the data-quality gate."""


class ConfigError(FlowlensError):
    """An option, mapping file or setting has a value flowlens does not accept."""


class EngineError(FlowlensError):
    """The requested engine is not available (e.g. Spark without the ``spark`` extra)."""


class OutputError(FlowlensError):
    """An output cannot be written where it was asked for (not a folder, no permission, ...)."""


class OutputBusyError(OutputError):
    """Another flowlens run is writing the same output folder or file."""


class OutputIsInputError(OutputError):
    """An output would overwrite one of the run's inputs."""


class ResourceError(FlowlensError):
    """The machine ran out of something the run needs (memory, disk). Exit status 3."""

    exit_code = 3


class OutOfMemoryError(ResourceError):
    """The run needed more memory than it could have."""


class DiskFullError(ResourceError, OutputError):
    """The disk (or the user's quota) filled up while writing an output or spilling to disk."""


class RunInterrupted(FlowlensError):
    """The user interrupted the run (Ctrl-C). Exit status 130, as for a shell's SIGINT."""

    exit_code = 130

    def __init__(self, message: str = "interrupted", *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)


__all__ = [
    "ConfigError",
    "DiskFullError",
    "EmptyLogError",
    "EngineError",
    "FlowlensError",
    "InputError",
    "LogFormatError",
    "MissingColumnError",
    "OutOfMemoryError",
    "OutputBusyError",
    "OutputError",
    "OutputIsInputError",
    "ResourceError",
    "RunInterrupted",
    "UnsafeInputError",
]
