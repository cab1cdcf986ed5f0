"""Writing outputs safely: every file flowlens writes goes through this module.

Three guarantees, for a run that is killed, runs out of disk or meets another run:

* **A file is old or new, never half-written.** :func:`atomic_path` (and :func:`write_text`,
  :func:`write_bytes`, :func:`atomic_open` over it) writes into a temporary file beside the
  target, flushes it to disk (``fsync``) and renames it over the target with ``os.replace``,
  which is atomic on POSIX and Windows. On any failure the temporary file is removed and the
  target is untouched.
* **An output folder shows the old set of files or the new set, never a mix.**
  :func:`output_folder` hands the run a staging folder beside the target
  (``.flowlens-new-*.NAME``); every file of the run is written there, and only when the run
  has finished is the staging folder put in place. When the target holds only files flowlens
  wrote (listed in its manifest, ``.flowlens-manifest.json``), the two folders are swapped in
  one step (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere the old folder is renamed aside,
  the new one renamed in and the old one deleted, and a folder left aside by a crash between
  the two renames is put back by the next run). When the target also holds other files (the
  user's notes, an input log), those are left alone and flowlens's files are replaced one by
  one, the run's main result (``results.json``) last.
* **Two runs cannot write into one place at once.** A lock file beside the target
  (``.flowlens-lock.NAME``, ``flock`` on POSIX) is held while a run writes there; a second run
  stops at once with a one-line error naming the folder.

:func:`check_outputs` refuses an output that would overwrite one of the run's inputs.

Errors are :class:`~flowlens.errors.OutputError` subclasses with one-line messages; a full disk
is a :class:`~flowlens.errors.DiskFullError`.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with output_folder(d / "report") as out:
...     _ = write_text(out.path / "results.json", "{}")
...     (d / "report").exists()          # nothing is visible before the run is done
False
>>> sorted(p.name for p in (d / "report").iterdir())
['.flowlens-manifest.json', 'results.json']
>>> sorted(p.name for p in d.iterdir())  # no staging folder or lock left behind
['report']
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flowlens.errors import DiskFullError, OutputBusyError, OutputError, OutputIsInputError

#: Lists the files of a folder flowlens wrote (relative path -> size in bytes).
MANIFEST = ".flowlens-manifest.json"
#: Written last when a folder's files are replaced one by one: its presence means the set is new.
RESULTS = "results.json"

_TMP = ".flowlens-tmp-"
_NEW = ".flowlens-new-"
_OLD = ".flowlens-old-"
_LOCK = ".flowlens-lock."

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_FULL_TEXT = ("no space left on device", "disk quota exceeded", "file too large")

#: Staging folders of the runs in this process (final target by staging folder); an interrupt
#: removes them before a hard exit (:mod:`flowlens.interrupts`).
_ACTIVE: dict[Path, Path] = {}
_UMASK: list[int] = []
#: Lock files held by this process.
_LOCKS: set[Path] = set()


# --------------------------------------------------------------------------- errors


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` says the disk (or the user's quota) is full.

    >>> is_disk_full(OSError(28, "No space left on device"))
    True
    >>> is_disk_full(RuntimeError("IO Error: Could not write file: No space left on device"))
    True
    >>> is_disk_full(OSError(2, "No such file or directory"))
    False
    """
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return True
    text = str(exc).lower()
    return any(t in text for t in _FULL_TEXT)


def write_error(exc: OSError, path: str | Path) -> OutputError:
    """The one-line error for an ``OSError`` met while writing ``path``.

    >>> print(write_error(OSError(28, "No space left on device"), "out/results.json"))
    no space left on device writing out/results.json; the previous outputs there are unchanged (hint: free space on that disk or write to another folder (-o))
    >>> print(write_error(PermissionError(13, "Permission denied"), "/etc/x.csv"))
    cannot write /etc/x.csv: permission denied (hint: choose a file or folder you can write to)
    """
    if is_disk_full(exc):
        return DiskFullError(
            f"no space left on device writing {path}; the previous outputs there are unchanged",
            hint="free space on that disk or write to another folder (-o)",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "read-only file system" if exc.errno == errno.EROFS else "permission denied"
        return OutputError(f"cannot write {path}: {reason}", hint="choose a file or folder you can write to")
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")


def shown(path: str | Path) -> Path:
    """``path`` as the user knows it: a file in a staging folder by its final place.

    >>> shown("/tmp/x.csv").as_posix()
    '/tmp/x.csv'
    """
    p = Path(os.path.abspath(path))
    for stage, final in _ACTIVE.items():
        if p == stage or stage in p.parents:
            return final / p.relative_to(stage)
    return Path(path)


@contextlib.contextmanager
def _writing(path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` into a one-line :class:`OutputError`."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise write_error(exc, shown(path)) from exc


# --------------------------------------------------------------------------- single files


def _umask() -> int:
    if not _UMASK:
        # The only portable way to read the umask is to set it; done once per process.
        current = os.umask(0o022)
        os.umask(current)
        _UMASK.append(current)
    return _UMASK[0]


def _fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (POSIX; Windows has no directory handles)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _inside_staging(path: Path) -> bool:
    p = Path(os.path.abspath(path))
    return any(p == s or s in p.parents for s in _ACTIVE)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, lock: bool | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on success it replaces ``path`` at once.

    The temporary name keeps ``path``'s suffixes (``.flowlens-tmp-XXXX.NAME``), so writers
    that choose a format or compression by suffix behave as for ``path``. On success the file
    is flushed to disk, given the target's permissions (or the usual ones for a new file) and
    renamed over ``path``; on any failure, interrupts included, it is removed and ``path`` is
    untouched. Outside a staging folder the file is locked against another run writing it
    (``lock=None``: lock unless inside a staging folder).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_text("old")
    >>> try:
    ...     with atomic_path(p) as tmp:
    ...         _ = tmp.write_text("new, but the run fails half way")
    ...         raise ValueError("boom")
    ... except ValueError:
    ...     pass
    >>> p.read_text(), sorted(x.name for x in p.parent.iterdir())
    ('old', ['a.csv'])
    >>> with atomic_path(p) as tmp:
    ...     _ = tmp.write_text("new")
    >>> p.read_text()
    'new'
    """
    target = Path(path)
    if lock is None:
        lock = not _inside_staging(target)
    with _writing(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise OutputError(f"cannot write {target}: it is a folder", hint="give a file name")
    with folder_lock(target) if lock else contextlib.nullcontext():
        if lock:
            _remove_stale(target.parent, target.name, (_TMP,))
        tmp = target.parent / f"{_TMP}{secrets.token_hex(4)}.{target.name}"
        try:
            yield tmp
            with _writing(target):
                if not tmp.exists():
                    raise OutputError(f"cannot write {target}: the writer produced no file")
                _fsync_file(tmp)
                try:
                    mode = os.stat(target).st_mode & 0o7777
                except FileNotFoundError:
                    mode = 0o666 & ~_umask()
                os.chmod(tmp, mode)
                os.replace(tmp, target)
                _fsync_dir(target.parent)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(exc, OSError) and is_disk_full(exc):
                raise write_error(exc, shown(target)) from exc
            raise


@contextlib.contextmanager
def atomic_open(
    path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8", newline: str | None = None
) -> Iterator[IO[Any]]:
    """``open(path, mode)`` that replaces ``path`` atomically when the block ends without error.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_open(p) as fh:
    ...     _ = fh.write("hello")
    >>> p.read_text()
    'hello'
    """
    if mode not in {"w", "wb", "wt", "x", "xb"}:
        raise ValueError(f"atomic_open writes a new file; mode {mode!r} is not one of w, wb, wt")
    binary = "b" in mode
    with (
        atomic_path(path) as tmp,
        open(tmp, "wb") if binary else open(tmp, "w", encoding=encoding, newline=newline) as fh,
    ):
        yield fh


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return ``path``.

    >>> import tempfile, pathlib
    >>> p = write_text(pathlib.Path(tempfile.mkdtemp()) / "t.txt", "hi")
    >>> p.read_text()
    'hi'
    """
    with atomic_path(path) as tmp, _writing(path):
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return ``path``.

    >>> import tempfile, pathlib
    >>> write_bytes(pathlib.Path(tempfile.mkdtemp()) / "b.bin", b"\\x00\\x01").read_bytes()
    b'\\x00\\x01'
    """
    with atomic_path(path) as tmp, _writing(path):
        tmp.write_bytes(data)
    return Path(path)


# --------------------------------------------------------------------------- the lock


def lock_path(target: str | Path, home: str | Path | None = None) -> Path:
    """The lock file of ``target``: ``.flowlens-lock.NAME`` beside it (or in ``home``).

    >>> lock_path("/data/reports/bank").as_posix()
    '/data/reports/.flowlens-lock.bank'
    """
    t = Path(os.path.abspath(target))
    return Path(home or t.parent) / f"{_LOCK}{t.name}"


@contextlib.contextmanager
def folder_lock(target: str | Path, *, home: str | Path | None = None) -> Iterator[Path]:
    """Hold the lock of ``target`` (a folder or file) for the block; refuse if another run holds it.

    POSIX: ``flock`` on ``.flowlens-lock.NAME`` beside the target, which the system releases when
    the process dies, so a killed run never leaves a stale lock. The file is removed on release;
    a run that opened it just before checks that the file it locked is still the one at that
    path (else it locks the new one). Windows: the lock file is created exclusively and removed
    on release.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with folder_lock(d):
    ...     try:
    ...         with folder_lock(d):
    ...             pass
    ...     except OutputBusyError as exc:
    ...         print("refused")
    refused
    """
    lock = lock_path(target, home)
    busy = OutputBusyError(
        f"another flowlens run is writing {target} (lock {lock})",
        hint="wait for it to finish or write to another place (-o)",
    )
    try:
        import fcntl
    except ImportError:  # Windows
        fcntl = None  # type: ignore[assignment]
    with _writing(lock):
        lock.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                raise OutputBusyError(
                    busy.message,
                    hint=f"wait for it to finish; if no run is writing there, delete {lock}",
                ) from None
        else:
            while True:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise busy from None
                except BaseException:
                    os.close(fd)
                    raise
                held = os.fstat(fd)
                try:
                    now = os.stat(lock)
                except FileNotFoundError:
                    now = None
                if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                    break
                os.close(fd)  # the holder removed it as we opened it: lock the new file
    _LOCKS.add(lock)
    try:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield lock
    finally:
        # Unlink while still holding it, so a waiting run sees a new file and locks that.
        _LOCKS.discard(lock)
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


# --------------------------------------------------------------------------- folders


@dataclass(frozen=True)
class OutputFolder:
    """Where a run writes: ``path`` (the staging folder) becomes ``target`` when the run ends."""

    target: Path
    path: Path

    def final(self, p: str | Path) -> Path:
        """The path a file written at ``p`` (inside :attr:`path`) will have after the run.

        >>> f = OutputFolder(Path("/r/out"), Path("/r/.flowlens-new-1.out"))
        >>> f.final(Path("/r/.flowlens-new-1.out/report.html")).as_posix()
        '/r/out/report.html'
        """
        q = Path(p)
        try:
            return self.target / q.relative_to(self.path)
        except ValueError:
            return q


def _files(root: Path) -> dict[str, int]:
    """Every file under ``root``: relative POSIX path -> size."""
    out: dict[str, int] = {}
    for dirpath, _dirs, names in os.walk(root):
        base = Path(dirpath)
        for n in names:
            p = base / n
            out[p.relative_to(root).as_posix()] = p.lstat().st_size
    return out


def _read_manifest_data(folder: Path) -> dict[str, dict[str, int]]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        kinds = data.get("outputs", {})
        return {
            str(kind): {str(k): int(v) for k, v in files.items()}
            for kind, files in kinds.items()
            if isinstance(files, dict)
        }
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def read_manifest(folder: str | Path, kind: str | None = None) -> dict[str, int]:
    """The files flowlens wrote into ``folder`` (relative path -> size): those of one kind of
    output (``report``, ``dataset``) or of all; empty if none are recorded.

    >>> read_manifest("/nonexistent")
    {}
    """
    data = _read_manifest_data(Path(folder))
    if kind is not None:
        return dict(data.get(kind, {}))
    return {k: v for files in data.values() for k, v in files.items()}


def _remove_stale(home: Path, name: str, kinds: tuple[str, ...]) -> None:
    """Remove what a killed run left in ``home`` for the target ``name`` (temporary files,
    staging folders). Called with the target's lock held, so nothing here belongs to a live run."""
    try:
        entries = os.listdir(home)
    except OSError:
        return
    for e in entries:
        if e.endswith("." + name) and any(e.startswith(k) for k in kinds):
            p = home / e
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()


def _recover(home: Path, final: Path) -> None:
    """Undo what a run killed while committing left behind (the target's lock is held)."""
    name = final.name
    try:
        aside = sorted(
            (home / e for e in os.listdir(home) if e.startswith(_OLD) and e.endswith("." + name)),
            key=lambda p: p.stat().st_mtime,
        )
    except OSError:
        aside = []
    if aside and not final.exists():
        # Killed between renaming the old folder aside and the new one in: put the old back.
        os.rename(aside[-1], final)
    _remove_stale(home, name, (_NEW, _OLD, _TMP))


def _swappable(final: Path, known: set[str]) -> bool:
    """True when ``final`` may be replaced whole: it holds only the files in ``known``, is no
    mount point, belongs to this user and is not where this process stands."""
    try:
        st, up = final.stat(), final.parent.stat()
    except OSError:
        return False
    if st.st_dev != up.st_dev:
        return False  # a mount point cannot be renamed
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return False  # a swapped-in folder would change its owner
    cwd = Path(os.getcwd())
    if cwd == final or final in cwd.parents:
        return False
    dirs = {p.as_posix() for k in known for p in Path(k).parents}
    for dirpath, subdirs, names in os.walk(final):
        base = Path(dirpath).relative_to(final)
        for n in names:
            if (base / n).as_posix() not in known:
                return False
        for d in subdirs:
            if (base / d).as_posix() not in dirs:
                return False
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or the file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@dataclass(frozen=True)
class _Plan:
    """What one run writes where: the staging folder, the target and how it is put in place."""

    stage: Path
    final: Path
    home: Path  # where the lock, staging and aside folders live: beside the target or in it
    kind: str
    last: tuple[str, ...]
    keep: frozenset[str]  # the run's inputs inside the target (relative): never moved or removed


def _commit(plan: _Plan) -> None:
    """Put the finished staging folder in the place of the target (module notes). Everything
    up to the renames can be interrupted; the renames themselves hold a Ctrl-C back."""
    whole, new, mine = _prepare(plan)
    with _deferred_interrupts():
        _put_in_place(plan, whole, new, mine)


def _prepare(plan: _Plan) -> tuple[bool, dict[str, int], dict[str, int]]:
    """Write the manifest and flush the staging folder to disk; decide whether the target is
    replaced whole."""
    stage, final = plan.stage, plan.final
    new = _files(stage)
    old = _read_manifest_data(final) if final.exists() else {}
    mine = old.pop(plan.kind, {})
    for files in old.values():  # files of another kind that this run writes become this kind's
        for rel in new:
            files.pop(rel, None)
    whole = (
        plan.home != final
        and not plan.keep
        and (not final.exists() or _swappable(final, {*mine, *new, MANIFEST}))
    )
    kinds = {plan.kind: dict(sorted(new.items()))} if whole else {**old, plan.kind: dict(sorted(new.items()))}
    manifest = {"written_by": _version(), "outputs": dict(sorted(kinds.items()))}
    (stage / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    # Everything on disk before anything is renamed: a crash after the rename must not leave
    # files that are named but empty.
    for rel in [*new, MANIFEST]:
        _fsync_file(stage / rel)
    for dirpath, _d, _n in os.walk(stage):
        _fsync_dir(Path(dirpath))
    return whole, new, mine


def _put_in_place(plan: _Plan, whole: bool, new: dict[str, int], mine: dict[str, int]) -> None:
    stage, final = plan.stage, plan.final
    if whole:
        try:
            mode = final.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o777 & ~_umask()
        os.chmod(stage, mode)
        if not final.exists():
            os.rename(stage, final)
            _fsync_dir(final.parent)
            return
        if _exchange(stage, final):
            _fsync_dir(final.parent)
            shutil.rmtree(stage, ignore_errors=True)  # now the old folder
            return
        aside = plan.home / f"{_OLD}{secrets.token_hex(4)}.{final.name}"
        os.rename(final, aside)
        os.rename(stage, final)  # a crash between the two renames is undone by _recover
        _fsync_dir(final.parent)
        shutil.rmtree(aside, ignore_errors=True)
        return
    # The folder holds files that are not this run's kind: replace ours one by one, leave the rest.
    last = plan.last
    order = sorted(new, key=lambda rel: (rel in last, last.index(rel) if rel in last else 0, rel))
    for rel in [*order, MANIFEST]:
        dst = final / rel
        if dst.is_dir() and not dst.is_symlink():
            raise OutputError(f"cannot write {dst}: a folder of that name is in the way")
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, dst)
    for rel in sorted(set(mine) - set(new) - plan.keep):
        # files of an earlier run of this kind that this one no longer writes
        with contextlib.suppress(OSError):
            (final / rel).unlink()
    _fsync_dir(final)
    shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def _deferred_interrupts() -> Iterator[None]:
    """Hold a Ctrl-C back while the new files are put in place (a few renames): an interrupt
    between two of them would leave the old folder aside or half the files replaced. The
    interrupt is raised as soon as the block ends."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[Any] = []
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: pending.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        if callable(previous):
            previous(*pending[0])
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt


def _version() -> str:
    from flowlens import __version__

    return f"flowlens {__version__}"


def _home(final: Path) -> Path:
    """Where the lock and the staging folder go: beside the target, or inside it when only the
    target itself is writable (a folder prepared for the service account in a folder it cannot
    write); then the files are replaced one by one."""
    parent = final.parent
    if os.access(parent, os.W_OK | os.X_OK) or not final.is_dir():
        return parent
    return final if os.access(final, os.W_OK | os.X_OK) else parent


@contextlib.contextmanager
def output_folder(
    target: str | Path,
    *,
    kind: str = "outputs",
    last: Iterable[str] = (RESULTS,),
    keep: Iterable[str | Path] = (),
) -> Iterator[OutputFolder]:
    """Lock ``target``, give the run a staging folder to write into, and put it in place when
    the block ends without error (module notes). On an error or an interrupt the staging folder
    is removed and ``target`` is left as it was.

    ``kind`` names what the run writes (``report``, ``dataset``): files that an earlier run of
    the same kind wrote there and this one does not are removed; those of another kind are
    left. ``keep`` lists the run's inputs: one inside the target is never moved or removed (the
    folder is then never swapped whole). ``last`` are written last when files are replaced one
    by one. Inside another run's staging folder (a library function called by a command that
    already stages its outputs) the folder is used as it is.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with output_folder(d) as out:
    ...     _ = write_text(out.path / "results.json", "1")
    >>> try:
    ...     with output_folder(d) as out:
    ...         _ = write_text(out.path / "results.json", "2")
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> (d / "results.json").read_text()
    '1'
    """
    given = Path(target)
    if _inside_staging(given):
        with _writing(given):
            given.mkdir(parents=True, exist_ok=True)
        yield OutputFolder(given, given)
        return
    final = Path(os.path.realpath(given))
    with _writing(given):
        if final.exists() and not final.is_dir():
            raise OutputError(
                f"cannot write into {given}: it is a file, not a folder", hint="give a folder (-o)"
            )
        final.parent.mkdir(parents=True, exist_ok=True)
    home = _home(final)
    inside = frozenset(
        Path(os.path.realpath(k)).relative_to(final).as_posix()
        for k in keep
        if _within(Path(k), final) and Path(os.path.realpath(k)) != final
    )
    with folder_lock(final, home=home):
        with _writing(given):
            _recover(home, final)
            stage = home / f"{_NEW}{secrets.token_hex(4)}.{final.name}"
            stage.mkdir(mode=0o700)
        _ACTIVE[stage] = final
        plan = _Plan(stage, final, home, kind, tuple(last), inside)
        try:
            yield OutputFolder(given, stage)
            with _writing(given):
                _commit(plan)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        finally:
            _ACTIVE.pop(stage, None)


def remove_staging() -> None:
    """Remove the staging folders and lock files of the runs in this process (before a hard
    exit, which skips the usual clean-up; the system releases the locks themselves)."""
    for stage in list(_ACTIVE):
        shutil.rmtree(stage, ignore_errors=True)
    for lock in list(_LOCKS):
        with contextlib.suppress(OSError):
            lock.unlink()


# --------------------------------------------------------------------------- inputs


def _same(a: Path, b: Path) -> bool:
    if os.path.abspath(a) == os.path.abspath(b) or os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _within(path: Path, folder: Path) -> bool:
    p, f = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return p == f or f in p.parents


def check_outputs(
    inputs: Iterable[str | Path | None],
    *,
    files: Iterable[str | Path | None] = (),
    folder: str | Path | None = None,
    folder_files: Iterable[str] = (),
) -> None:
    """Refuse to write over an input: raise :class:`~flowlens.errors.OutputIsInputError`.

    ``files`` are output files; ``folder`` an output folder into which the run writes
    ``folder_files`` (names relative to it). Paths are compared resolved (symlinks, ``..``) and
    by identity (hard links). An output inside an input folder is refused too, and so is an
    output folder that is an input or holds one under a name the run writes.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> log = d / "quarantine.csv"; _ = log.write_text("x")
    >>> try:
    ...     check_outputs([log], folder=d, folder_files=["report.html", "quarantine.csv"])
    ... except OutputIsInputError as exc:
    ...     print(exc)  # doctest: +ELLIPSIS
    the output quarantine.csv in ... is the input .../quarantine.csv (hint: write to another folder (-o) or move the input)
    """
    ins = [Path(p) for p in inputs if p is not None and str(p) != "-"]
    outs = [Path(p) for p in files if p is not None and str(p) != "-"]
    for i, a in enumerate(outs):
        for b in outs[i + 1 :]:
            if _same(a, b):
                raise OutputError(
                    f"two outputs are the same file: {a} and {b}", hint="give each output its own name"
                )
    if folder is not None:
        out_dir = Path(folder)
        outs += [out_dir / n for n in folder_files]
        for i in ins:
            if _same(out_dir, i):
                raise OutputIsInputError(
                    f"the output folder {out_dir} is the input {i}",
                    hint="write to another folder (-o)",
                )
            if i.is_dir() and _within(out_dir, i):
                raise OutputIsInputError(
                    f"the output folder {out_dir} is inside the input folder {i}",
                    hint="write to a folder outside it (-o)",
                )
    for o in outs:
        for i in ins:
            if _same(o, i):
                where = f" in {folder}" if folder is not None and o.parent == Path(folder) else ""
                name = o.name if where else str(o)
                raise OutputIsInputError(
                    f"the output {name}{where} is the input {i}",
                    hint="write to another folder (-o) or move the input"
                    if where
                    else "choose another output file",
                )
            if i.is_dir() and _within(o, i):
                raise OutputIsInputError(
                    f"the output {o} is inside the input folder {i}",
                    hint="choose an output outside it",
                )


__all__ = [
    "MANIFEST",
    "RESULTS",
    "OutputFolder",
    "atomic_open",
    "atomic_path",
    "check_outputs",
    "folder_lock",
    "is_disk_full",
    "lock_path",
    "output_folder",
    "read_manifest",
    "remove_staging",
    "shown",
    "write_bytes",
    "write_error",
    "write_text",
]
