"""Fixtures: the tiny bank generated once per session (with every counterfactual)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlens.synth import generate_bank


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate_bank("tiny", seed=7, out_dir=out, remedies="all")
    return out


@pytest.fixture(scope="session")
def tiny_result(tiny_dir: Path) -> Path:
    return tiny_dir
