"""The command line's check that no output overwrites an input (README: inputs are never
modified).

Every command that writes a file or folder calls :func:`guard_outputs` before it reads
anything, naming its output parameters; every other path among the command's parameters (the
log, ``--cases``, ``--mapping``, ``--calendar``, ``--allow``, ``--other-work``, rule files, a
model to check against, ...) is an input, so an option added later is covered without a change
here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from flowlens.outputs import MANIFEST, check_outputs

#: The files ``analyze`` writes into its folder.
REPORT_FILES = ("report.html", "results.json", "quarantine.csv", "report.md", "report.pdf", MANIFEST)


def _paths(value: Any) -> list[Path]:
    if isinstance(value, Path):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if isinstance(v, Path)]
    return []


def guard_outputs(
    *, files: Sequence[str] = (), folder: str | None = None, folder_files: Iterable[str] = ()
) -> list[Path]:
    """Refuse (:class:`~flowlens.errors.OutputIsInputError`, one line) when an output of the
    running command is one of its inputs.

    ``files`` and ``folder`` name the command's parameters that hold output files and an output
    folder; ``folder_files`` are the names the command writes into that folder. Returns the
    inputs (for :func:`~flowlens.outputs.output_folder`'s ``keep``).
    """
    ctx = click.get_current_context()
    params = ctx.params
    outputs = {*files, *([folder] if folder else [])}
    inputs = [p for name, value in params.items() if name not in outputs for p in _paths(value)]
    check_outputs(
        inputs,
        files=[params.get(name) for name in files],
        folder=params.get(folder) if folder else None,
        folder_files=folder_files,
    )
    return inputs
