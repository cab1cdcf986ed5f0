"""Where a log came from and what the reader detected about it: :class:`SourceInfo`.

The core owns this record (an :class:`~flowlens.log.EventLog` carries one); the readers in
:mod:`flowlens.io` fill it in while reading.

>>> from flowlens.source import SourceInfo
>>> info = SourceInfo(path="calls.csv", format="csv", delimiter=";")
>>> info.to_dict()["delimiter"]
';'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class SourceInfo:
    """Provenance of an event log: the input and what was detected while reading it."""

    path: str
    format: str
    compression: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    #: Per timestamp column: {format description: number of values parsed with it}.
    timestamp_formats: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Per role found: how (``given``, ``name``, ``content: ...``; docs/methods.md §1.6).
    roles: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


__all__ = ["SourceInfo"]
