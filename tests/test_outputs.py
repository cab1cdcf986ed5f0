"""Outputs are atomic, never overwrite an input, and Ctrl-C / out of memory / a full disk end a
run with one line (issue 10, items 4-6).

A run killed while it writes, a disk that fills up and a second run into the same folder must
leave the previous report intact (or the new one complete); ``analyze dir/quarantine.csv -o
dir`` and ``findings ev.csv --csv ev.csv`` refuse; Ctrl-C stops a long analysis in seconds.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from flowlens import outputs
from flowlens.cli import main
from flowlens.errors import DiskFullError, OutputBusyError, OutputError
from flowlens.interrupts import classify
from flowlens.outputs import MANIFEST, atomic_path, folder_lock, output_folder, write_text

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
FLOWLENS = [sys.executable, "-m", "flowlens"]


def run(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLOWLENS, *args], capture_output=True, text=True, env=ENV, check=False, **kw)


def small_log(path: Path, cases: int = 40) -> Path:
    rows = []
    for c in range(cases):
        t = pd.Timestamp("2024-03-04 09:00") + pd.Timedelta(hours=c)
        for k, act in enumerate(["Receive", "Check", "Approve", "Close"]):
            rows.append({"case_id": f"C{c}", "activity": act, "timestamp": t + pd.Timedelta(minutes=17 * k)})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) with the hash of its bytes."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(parent: Path) -> list[str]:
    """Staging folders, temporary files and locks a run left beside its target."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".flowlens-"))


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture(scope="module")
def first_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A log and the folder of its report from a first run (one ``flowlens analyze`` process,
    ~4 CPU s, for the module)."""
    d = tmp_path_factory.mktemp("first_report")
    log = small_log(d / "ev.csv")
    res = run("analyze", str(log), "-o", str(d / "rep"), "--quick")
    assert res.returncode == 0, res.stderr
    assert leftovers(d) == []  # the first run, into a new folder, leaves nothing beside it
    return log, d / "rep"


@pytest.fixture
def old_report(first_report: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A log and a folder holding the report of a first run: copies of :func:`first_report`'s
    (every byte and time stamp), each test's own to overwrite, kill and swap."""
    log, out = tmp_path / "ev.csv", tmp_path / "rep"
    shutil.copy2(first_report[0], log)
    shutil.copytree(first_report[1], out)
    return log, out, digest(out)


# --------------------------------------------------------------------------- single files


def test_atomic_file_keeps_old_on_failure_and_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "findings.csv"
    target.write_text("old")
    os.chmod(target, 0o640)
    with pytest.raises(ZeroDivisionError), atomic_path(target) as tmp:
        tmp.write_text("half")
        _ = 1 / 0
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp.parent and tmp.name.endswith(".findings.csv")  # suffix kept
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640  # the file keeps its permissions
    assert leftovers(tmp_path) == []


def test_full_disk_in_a_single_file_leaves_it_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowlens.io.writers import write_safe_csv

    target = tmp_path / "findings.csv"
    target.write_text("a,b\n1,2\n")

    def full(self: pd.DataFrame, path: Path, **kw: object) -> None:
        Path(path).write_text("a,b\n1,")  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(DiskFullError, match=r"no space left on device writing .*findings\.csv"):
        write_safe_csv(pd.DataFrame({"a": [3]}), target)
    assert target.read_text() == "a,b\n1,2\n"
    assert leftovers(tmp_path) == []


def test_stale_temporary_file_of_a_killed_run_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".flowlens-tmp-deadbeef.map.svg"
    stale.write_text("<svg")
    write_text(tmp_path / "map.svg", "<svg/>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.svg"]


# --------------------------------------------------------------------------- folders


def test_folder_swaps_whole_when_it_holds_only_our_files(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    with output_folder(out) as f:
        write_text(f.path / "results.json", "1")
        write_text(f.path / "map.svg", "<svg/>")
    assert (out / "results.json").read_text() == "1"
    before = out.stat().st_ino
    with output_folder(out) as f:
        write_text(f.path / "results.json", "2")
    # the new set only: map.svg of the earlier run is gone, the folder is a new one
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "results.json"]
    assert out.stat().st_ino != before
    assert leftovers(tmp_path) == []


def test_folder_with_the_users_files_keeps_them(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    with output_folder(out) as f:
        write_text(f.path / "results.json", "1")
        write_text(f.path / "map.svg", "<svg/>")
    (out / "notes.txt").write_text("mine")
    (out / "sub").mkdir()
    (out / "sub" / "data.csv").write_text("x")
    with output_folder(out) as f:
        write_text(f.path / "results.json", "2")
        write_text(f.path / "report.html", "<html>")
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "sub" / "data.csv").read_text() == "x"
    assert (out / "results.json").read_text() == "2"
    assert not (out / "map.svg").exists()  # ours from the earlier run, not written again
    assert sorted(outputs.read_manifest(out)) == ["report.html", "results.json"]
    assert leftovers(tmp_path) == []


def test_analyze_into_a_dataset_folder_keeps_the_dataset(tmp_path: Path) -> None:
    data = tmp_path / "bank"
    with output_folder(data, kind="dataset") as f:
        small_log(f.path / "events.csv")
        write_text(f.path / "README.md", "a generated dataset")
    before = digest(data)
    res = run("analyze", str(data / "events.csv"), "-o", str(data), "--quick")
    assert res.returncode == 0, res.stderr
    after = digest(data)
    assert {k: after[k] for k in ("events.csv", "README.md")} == {
        k: before[k] for k in ("events.csv", "README.md")
    }
    assert sorted(outputs.read_manifest(data, "dataset")) == ["README.md", "events.csv"]
    written = sorted(outputs.read_manifest(data, "report"))
    assert {"quarantine.csv", "report.html", "report.md", "results.json"} <= set(written)
    assert all(
        p.startswith("figures/")
        for p in set(written) - {"quarantine.csv", "report.html", "report.md", "results.json"}
    )
    # a second report replaces the first and still leaves the dataset
    res = run("analyze", str(data / "events.csv"), "-o", str(data), "--quick", "--title", "again")
    assert res.returncode == 0, res.stderr
    assert digest(data)["events.csv"] == before["events.csv"]
    assert leftovers(tmp_path) == []


def test_folder_whose_parent_is_not_writable_is_staged_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "rep"
    out.mkdir()
    (out / "results.json").write_text("old")
    real = os.access
    monkeypatch.setattr(outputs.os, "access", lambda p, m: False if Path(p) == tmp_path else real(p, m))
    with output_folder(out) as f:
        assert f.path.parent == out  # staged inside the target
        write_text(f.path / "results.json", "new")
        with pytest.raises(OutputBusyError):  # the lock is taken there too
            folder_lock(out, home=out).__enter__()
    assert (out / "results.json").read_text() == "new"
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "results.json"]
    assert leftovers(tmp_path) == []


def test_failed_run_leaves_folder_and_no_staging(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    with output_folder(out) as f:
        write_text(f.path / "results.json", "1")
    before = digest(out)
    with pytest.raises(KeyboardInterrupt), output_folder(out) as f:
        write_text(f.path / "report.html", "new")
        raise KeyboardInterrupt
    assert digest(out) == before
    assert leftovers(tmp_path) == []


def test_folder_left_aside_by_a_crash_is_put_back(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    with output_folder(out) as f:
        write_text(f.path / "results.json", "old")
    # A run killed between "rename the old folder aside" and "rename the new one in" (the
    # fallback where renameat2 cannot swap) leaves these two:
    os.rename(out, tmp_path / ".flowlens-old-0badf00d.rep")
    (tmp_path / ".flowlens-new-0badf00d.rep").mkdir()
    with pytest.raises(RuntimeError), output_folder(out):
        assert (out / "results.json").read_text() == "old"  # put back before the run starts
        raise RuntimeError("this run fails too")
    assert (out / "results.json").read_text() == "old"
    assert leftovers(tmp_path) == []


def test_swap_fallback_without_renameat2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)
    out = tmp_path / "rep"
    for n in ("1", "2"):
        with output_folder(out) as f:
            write_text(f.path / "results.json", n)
    assert (out / "results.json").read_text() == "2"
    assert leftovers(tmp_path) == []


def test_a_file_where_the_folder_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rep").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"), output_folder(tmp_path / "rep"):
        pass


def test_lock_refuses_a_second_writer_and_is_released(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    with (
        folder_lock(out),
        pytest.raises(OutputBusyError, match=f"another flowlens run is writing {re.escape(str(out))}"),
        output_folder(out),
    ):
        pass
    with output_folder(out) as f:  # released: the next run goes ahead
        write_text(f.path / "results.json", "1")
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- runs killed, disks full


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import flowlens.outputs as o
    marker, moment = Path(sys.argv[1]), sys.argv[2]
    real_write, real_commit, real_exchange = o.write_text, o._commit, o._exchange

    def pause():
        marker.write_text("now")
        time.sleep(120)

    def write_text(path, text, **kw):
        out = real_write(path, text, **kw)
        if moment == "writing" and Path(path).name == "report.html":
            pause()  # report.html of the new run is written, results.json is not
        return out

    def commit(plan):
        if moment == "committing":
            o._exchange = lambda a, b: False  # the two-rename fallback
            real_rename = o.os.rename
            def rename(a, b):
                real_rename(a, b)
                if Path(b).name.startswith(".flowlens-old-"):
                    pause()  # the old folder is aside, the new one not yet in
            o.os.rename = rename
        return real_commit(plan)

    o.write_text = write_text
    o._commit = commit
    import flowlens.report.document  # uses o.write_text at call time
    from flowlens.cli import main
    main(sys.argv[3:])
    """
)


def start_paused_run(tmp_path: Path, moment: str, *args: str) -> tuple[subprocess.Popen[str], Path]:
    marker = tmp_path / f"paused-{moment}"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker), moment, *args],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the child never reached the moment"
        time.sleep(0.05)
    return child, marker


def test_killed_while_writing_leaves_the_previous_report(
    tmp_path: Path, old_report: tuple[Path, Path, dict[str, str]]
) -> None:
    log, out, before = old_report
    child, _ = start_paused_run(
        tmp_path, "writing", "analyze", str(log), "-o", str(out), "--quick", "--title", "new"
    )
    try:
        # while it writes, a second run into the same folder is refused at once
        second = run("analyze", str(log), "-o", str(out), "--quick")
        assert second.returncode != 0
        line = one_error_line(second.stderr)
        assert line.startswith("flowlens: error: another flowlens run is writing") and str(out) in line
        assert digest(out) == before  # nothing of the new run is visible yet
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    assert digest(out) == before
    # the next run cleans up what the killed one left and writes a complete new report
    res = run("analyze", str(log), "-o", str(out), "--quick", "--title", "third")
    assert res.returncode == 0, res.stderr
    assert leftovers(tmp_path) == []
    assert '"title": "third"' in (out / "results.json").read_text()
    assert "third" in (out / "report.html").read_text()


def test_killed_while_putting_the_new_report_in_place(
    tmp_path: Path, old_report: tuple[Path, Path, dict[str, str]]
) -> None:
    log, out, before = old_report
    child, _ = start_paused_run(tmp_path, "committing", "analyze", str(log), "-o", str(out), "--quick")
    child.send_signal(signal.SIGKILL)
    child.communicate()
    # the worst moment of the fallback: the old folder is aside; the next run puts it back first
    assert not out.exists()
    with pytest.raises(RuntimeError), output_folder(out):
        assert digest(out) == before
        raise RuntimeError("stop before writing anything")
    assert digest(out) == before
    assert leftovers(tmp_path) == []


def test_full_disk_keeps_the_previous_report_and_says_so_in_one_line(
    tmp_path: Path,
    old_report: tuple[Path, Path, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log, out, before = old_report
    real = Path.write_text

    def write_text(self: Path, data: str, *a: object, **kw: object) -> int:
        if self.name.endswith("results.json"):
            real(self, data[: len(data) // 2], *a, **kw)  # half of it fits
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data, *a, **kw)

    monkeypatch.setattr(Path, "write_text", write_text)
    with pytest.raises(SystemExit) as exit_:
        main(["analyze", str(log), "-o", str(out), "--quick"])
    assert exit_.value.code == 3
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("flowlens: error: no space left on device writing ")
    assert "results.json" in line and "free space" in line
    assert digest(out) == before
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- inputs


def test_analyze_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir()
    log = small_log(d / "quarantine.csv")
    before = log.read_bytes()
    res = run("analyze", str(log), "-o", str(d), "--quick")
    assert res.returncode == 2
    line = one_error_line(res.stderr)
    assert "quarantine.csv" in line and "is the input" in line
    assert log.read_bytes() == before
    assert sorted(p.name for p in d.iterdir()) == ["quarantine.csv"]


def test_analyze_into_the_logs_folder_leaves_the_log(tmp_path: Path) -> None:
    log = small_log(tmp_path / "events.csv")
    before = log.read_bytes()
    res = run("analyze", str(log), "-o", str(tmp_path), "--quick")
    assert res.returncode == 0, res.stderr
    assert log.read_bytes() == before  # the folder holds the user's file: ours replaced one by one
    assert (tmp_path / "results.json").exists()


def test_other_inputs_are_protected_too(tmp_path: Path) -> None:
    log = small_log(tmp_path / "ev.csv")
    cases = tmp_path / "out" / "results.json"
    cases.parent.mkdir()
    pd.DataFrame({"case_id": ["C1"], "segment": ["a"]}).to_csv(cases, index=False)
    res = run("analyze", str(log), "--cases", str(cases), "-o", str(tmp_path / "out"), "--quick")
    assert res.returncode == 2 and "is the input" in one_error_line(res.stderr)


def test_findings_csv_refuses_the_log_even_through_a_link(tmp_path: Path) -> None:
    log = small_log(tmp_path / "ev.csv")
    before = log.read_bytes()
    res = run("findings", str(log), "--csv", str(log))
    assert res.returncode == 2
    assert "is the input" in one_error_line(res.stderr)
    os.link(log, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to(log)
    for other in ("hard.csv", "soft.csv", "./sub/../ev.csv"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        res = run("findings", str(log), "--csv", other, cwd=tmp_path)
        assert res.returncode == 2, other
        assert "is the input" in one_error_line(res.stderr)
    assert log.read_bytes() == before


def test_model_refuses_two_outputs_of_one_name(tmp_path: Path) -> None:
    log = small_log(tmp_path / "ev.csv")
    res = run("model", str(log), "-o", str(tmp_path / "m.bpmn"), "--pnml", str(tmp_path / "m.bpmn"))
    assert res.returncode == 2
    assert "two outputs are the same file" in one_error_line(res.stderr)


# --------------------------------------------------------------------------- interrupts, memory


def test_out_of_memory_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    import flowlens.cli.options as options

    def huge(**kw: object) -> None:
        np.empty(10**15)  # numpy's _ArrayMemoryError

    monkeypatch.setattr(options, "read_from_options", huge)
    log = small_log(tmp_path / "ev.csv")
    with pytest.raises(SystemExit) as exit_:
        main(["inspect", str(log)])
    assert exit_.value.code == 3
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("flowlens: error: out of memory: Unable to allocate")
    assert "--memory-limit" in line


def test_duckdb_out_of_memory_and_full_spill_disk_are_classified() -> None:
    import duckdb

    con = duckdb.connect(config={"memory_limit": "20MB", "threads": "1"})
    con.execute("SET preserve_insertion_order = false")
    with pytest.raises(duckdb.OutOfMemoryException) as exc:
        con.execute("SELECT list(range) FROM range(20000000)").fetchall()
    err = classify(exc.value)
    assert err is not None and err.exit_code == 3 and "--memory-limit" in err.one_line()
    spill = duckdb.IOException(
        'IO Error: Could not write file "/tmp/x/duckdb_temp_storage.tmp": No space left on device'
    )
    err = classify(spill)
    assert err is not None and err.one_line().startswith("no space left on device: IO Error")
    assert "--temp-dir" in err.one_line()
    # a reader's error raised from DuckDB's out-of-memory still reads as out of memory
    from flowlens.errors import LogFormatError

    try:
        try:
            raise exc.value
        except duckdb.Error as inner:
            raise LogFormatError("ev.csv: cannot read") from inner
    except LogFormatError as outer:
        assert "out of memory" in str(classify(outer))


def test_a_section_interrupted_stops_the_report() -> None:
    import duckdb

    from flowlens.report.build import _Guard

    skipped: list[tuple[str, str]] = []

    def interrupted() -> None:
        raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    with pytest.raises(duckdb.InterruptException):
        _Guard(skipped).run("waiting", interrupted)
    assert skipped == []


def big_log(path: Path, events: int) -> Path:
    import duckdb

    duckdb.connect().execute(
        f"""COPY (SELECT 'C' || (i // 10) AS case_id, 'Step ' || ((i * 7 + (i // 10) % 3) % 12) AS activity,
               TIMESTAMP '2024-01-01' + to_seconds((i // 10) * 37 + (i % 10) * 3600 + (hash(i) % 600)::BIGINT)
                   AS timestamp,
               'R' || (hash(i // 10) % 50) AS resource
            FROM range({events}) t(i)) TO '{path}' (FORMAT parquet)"""
    )
    return path


def test_ctrl_c_stops_a_long_analysis_within_seconds(tmp_path: Path) -> None:
    # 2 million events: the analysis takes well over a minute on two cores
    log = big_log(tmp_path / "big.parquet", 2_000_000)
    out = tmp_path / "rep"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = subprocess.Popen(
        [*FLOWLENS, "analyze", str(log), "-o", str(out)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".flowlens-new-") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(4)  # well into reading and analysing
    assert proc.poll() is None, "the analysis ended before it could be interrupted"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert one_error_line(err) == "flowlens: interrupted"
    assert took < 10, took
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert leftovers(tmp_path) == []


def test_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    # A run whose first interrupt is not acted on (a long step that ignores it).
    code = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        import flowlens.cli.options as options
        def stuck(**kw):
            Path(sys.argv[1]).write_text("go")
            while True:
                try:
                    time.sleep(0.05)
                except KeyboardInterrupt:
                    pass  # swallowed, as a careless library might
        options.read_from_options = stuck
        from flowlens.cli import main
        main(["analyze", sys.argv[3], "-o", sys.argv[2]])
        """
    )
    marker = tmp_path / "go"
    log = tmp_path / "x.csv"  # exists: the command checks its LOG before reading it
    log.write_text("case,activity,timestamp\n1,a,2024-01-01 09:00\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(marker), str(tmp_path / "rep"), str(log)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert proc.poll() is None  # the first was swallowed
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 3
    assert proc.returncode == 130
    assert one_error_line(err) == "flowlens: interrupted"
    assert leftovers(tmp_path) == []


def test_generated_dataset_appears_whole(tmp_path: Path) -> None:
    out = tmp_path / "bank"
    args = ("generate", "bank", "--preset", "tiny", "--remedies", "none", "--jobs", "1", "-o", str(out))
    res = run(*args, "--seed", "1")
    assert res.returncode == 0, res.stderr
    (out / "notes.txt").write_text("mine")
    before = digest(out)
    proc = subprocess.Popen(
        [*FLOWLENS, *args, "--seed", "2"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    # killed once its staging folder holds the first file of the new dataset
    while not list(tmp_path.glob(".flowlens-new-*/customers.parquet")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.kill()
    proc.communicate()
    assert digest(out) == before
    res = run(*args, "--seed", "2")
    assert res.returncode == 0, res.stderr
    after = digest(out)
    assert after["notes.txt"] == before["notes.txt"]
    assert after["events.parquet"] != before["events.parquet"]
    assert sorted(outputs.read_manifest(out, "dataset")) == sorted(
        k for k in after if k not in {"notes.txt", MANIFEST}
    )
    assert leftovers(tmp_path) == []


def test_forked_workers_leave_ctrl_c_to_the_parent() -> None:
    from flowlens.interrupts import handling_interrupts

    before = signal.getsignal(signal.SIGINT)
    with handling_interrupts():
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # a worker (the generator forks its pools): ignores Ctrl-C, the parent stops it
            os.write(w, b"1" if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else b"0")
            os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(r, 1) == b"1"
        os.close(r)
        os.close(w)
    assert signal.getsignal(signal.SIGINT) is before  # restored after the run
