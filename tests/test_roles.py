"""Roles found from the content where the names do not tell (methods §1.6), and one error
naming every role still missing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import flowlens
from conftest import shared_path
from flowlens.cli import main as cli_main
from flowlens.errors import MissingColumnError

ORDERS = [
    ("A1", "created", "2024-03-01 09:00:00", "ann", "web"),
    ("A1", "packed", "2024-03-01 11:00:00", "bob", "web"),
    ("A1", "shipped", "2024-03-02 10:00:00", "cy", "web"),
    ("A2", "created", "2024-03-01 09:30:00", "ann", "shop"),
    ("A2", "packed", "2024-03-01 12:00:00", "bob", "shop"),
    ("A2", "packed", "2024-03-01 12:30:00", "dan", "shop"),
    ("A2", "shipped", "2024-03-03 10:00:00", "cy", "shop"),
    ("A3", "created", "2024-03-02 09:30:00", "ann", "web"),
    ("A3", "shipped", "2024-03-03 11:00:00", "bob", "web"),
    ("A4", "created", "2024-03-04 08:00:00", "ann", "web"),
    ("A4", "packed", "2024-03-04 09:00:00", "dan", "web"),
    ("A4", "shipped", "2024-03-04 16:00:00", "cy", "web"),
]
ODD_HEADER = ["order_id", "order_activity_type", "moment", "handled", "channel"]


def write(tmp_path: Path, header: list[str], rows: list[tuple[str, ...]], name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([",".join(header), *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("order", ["by case", "by time"])
def test_roles_from_content(tmp_path: Path, order: str) -> None:
    rows = ORDERS if order == "by case" else sorted(ORDERS, key=lambda r: r[2])
    log = flowlens.read_log(write(tmp_path, ODD_HEADER, rows))
    m = log.columns
    assert (m.case, m.activity_columns, m.end, m.start) == (
        "order_id",
        ("order_activity_type",),
        "moment",
        None,
    )
    assert (log.n_cases, log.n_events, log.summary().activities) == (4, 12, 3)
    roles = log.source.roles
    assert set(roles) == {"case", "activity", "end"}
    assert all(how.startswith("content: ") for how in roles.values())
    assert ("in one run" in roles["case"]) == (order == "by case")
    # 'channel' is the same in every row of a case: an attribute, never the activity
    assert "channel" in log.attributes.values()
    assert "roles found: case by content" in log.describe()


def test_two_unnamed_times_are_start_and_end(tmp_path: Path) -> None:
    rows = [(c, a, s, e) for c, a, s, e in (
        ("k1", "a", "2024-03-01 09:00", "2024-03-01 09:20"),
        ("k1", "b", "2024-03-01 10:00", "2024-03-01 10:30"),
        ("k2", "a", "2024-03-01 09:10", "2024-03-01 09:15"),
        ("k2", "b", "2024-03-01 11:00", "2024-03-01 11:00"),
    )]  # fmt: skip
    # the later column comes first: the order of the values decides, not the column order
    log = flowlens.read_log(
        write(tmp_path, ["ref", "kind", "t2", "t1"], [(c, a, e, s) for c, a, s, e in rows])
    )
    assert (log.columns.start, log.columns.end) == ("t1", "t2")
    assert "never after 't2'" in log.source.roles["start"]
    assert log.has_start_times


def test_names_win_over_content(tmp_path: Path) -> None:
    rows = [("c1", "g1", "open", "2024-03-01 09:00"), ("c1", "g1", "close", "2024-03-01 10:00"),
            ("c2", "g2", "open", "2024-03-01 11:00")]  # fmt: skip
    log = flowlens.read_log(write(tmp_path, ["case_id", "grp", "activity", "timestamp"], rows))
    assert log.columns.case == "case_id"
    assert log.source.roles == {"case": "name", "activity": "name", "end": "name"}
    assert "roles found" not in log.describe()


def test_every_missing_role_in_one_error(tmp_path: Path) -> None:
    rows = [("1", "alpha", "x"), ("2", "beta", "y"), ("3", "gamma", "z")]
    path = write(tmp_path, ["n", "label", "note"], rows)
    with pytest.raises(MissingColumnError) as info:
        flowlens.read_log(path)
    text = str(info.value)
    assert "\n" not in text
    assert "could not find a case id column, an activity column or a timestamp column" in text
    assert "'n' (numbers, all different)" in text and "'label' (text, all different)" in text
    assert "--case COLUMN --activity COLUMN --end COLUMN" in text


def test_missing_role_names_the_found_ones(tmp_path: Path) -> None:
    rows = [("c1", "open", "ann"), ("c1", "close", "bob"), ("c2", "open", "ann")]
    with pytest.raises(MissingColumnError, match=r"could not find a timestamp column.*'case_id' \(case\)"):
        flowlens.read_log(write(tmp_path, ["case_id", "activity", "resource"], rows))


def _renamed(name: str) -> pd.DataFrame:
    """A shared CSV log with uninformative column names, rows in time order."""
    df = pd.read_csv(shared_path(name), dtype=str, keep_default_na=False)
    ren = {
        "case_id": "col_a",
        "activity": "col_b",
        "start_time": "col_d",
        "end_time": "col_c",
        "resource": "col_e",
    }
    return df.rename(columns=ren).sort_values("col_c", kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("name", ["bpic2012-w", "purchasing"])
def test_shared_logs_with_uninformative_names(name: str, shared_logs: Path) -> None:
    """Real interval logs with their roles renamed col_a..col_e and rows in time order read
    as the original does."""
    log = flowlens.read_log(_renamed(name))
    m = log.columns
    assert (m.case, m.activity_columns, m.start, m.end) == ("col_a", ("col_b",), "col_d", "col_c")
    ref = flowlens.read_log(shared_path(name))
    assert (log.n_cases, log.n_events, log.n_variants) == (ref.n_cases, ref.n_events, ref.n_variants)


def test_bpic2013_sub_status_without_the_option(shared_logs: Path) -> None:
    """BPIC 2013's lifecycle column holds sub-statuses: the activity becomes name + sub-status
    without --activity, with the same activities as the explicit option gives."""
    path = shared_path("bpic2013-closed-problems")
    auto = flowlens.read_log(path)
    given = flowlens.read_log(path, flowlens.ColumnMap(activity="concept:name+lifecycle:transition"))
    assert auto.columns.activity_columns == ("concept:name", "lifecycle:transition")
    assert not auto.has_lifecycle
    acts = lambda log: sorted(flowlens.variants(log).variant.explode().unique())  # noqa: E731
    assert acts(auto) == acts(given)
    assert len(acts(auto)) == 7
    assert (auto.n_events, auto.n_variants) == (given.n_events, given.n_variants)
    assert any("sub-statuses" in n and "--activity concept:name" in n for n in auto.source.notes)
    assert "sub-status" in auto.source.roles["activity"]
    # an explicit activity overrides: the sub-status stays an attribute
    plain = flowlens.read_log(path, flowlens.ColumnMap(activity="concept:name"))
    assert plain.summary().activities == 4
    assert "lifecycle:transition" in plain.attributes.values()


def test_inspect_json_says_how_roles_were_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ODD_HEADER, ORDERS)
    capsys.readouterr()
    cli_main(["inspect", str(path), "--json"])
    roles = json.loads(capsys.readouterr().out)["source_info"]["roles"]
    assert roles["case"].startswith("content:") and roles["end"].startswith("content:")
