"""The parallel run's schedule (tests/conftest.py) names units that exist: a renamed module or
folder would silently lose its place (or its shared fixtures) without failing anything."""

from __future__ import annotations

from conftest import LONG_UNITS, ONE_UNIT_FOLDERS, REPO


def test_scheduled_units_exist_and_folders_are_one_unit() -> None:
    for unit in (*LONG_UNITS, *ONE_UNIT_FOLDERS):
        assert (REPO / unit).exists(), f"{unit} is not in the repository"
    for unit in LONG_UNITS:
        # a folder listed as long must be one unit, or xdist never sees a unit of that name
        assert not unit.endswith("/") or unit in ONE_UNIT_FOLDERS, unit
    assert len(set(LONG_UNITS)) == len(LONG_UNITS)
