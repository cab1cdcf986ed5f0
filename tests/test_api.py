"""The public surface: every exported name resolves and is documented, every command has help
and appears in the README."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import flowlens
from flowlens.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", [n for n in flowlens.__all__ if n != "__version__"])
def test_export_resolves_and_is_documented(name: str) -> None:
    obj = getattr(flowlens, name)
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"


def test_exports_with_examples() -> None:
    # most public functions carry a runnable example (pytest runs them as doctests)
    funcs = [getattr(flowlens, n) for n in flowlens.__all__ if inspect.isfunction(getattr(flowlens, n, None))]
    with_example = [
        f
        for f in funcs
        if ">>>" in (inspect.getdoc(f) or "") or ">>>" in (inspect.getmodule(f).__doc__ or "")
    ]
    assert len(with_example) >= 0.8 * len(funcs)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"flowlens {command}" in (REPO / "README.md").read_text(encoding="utf-8")
