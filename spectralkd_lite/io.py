"""Atomic writes: a report, a mapping or a figure is either whole or absent."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "LOCK_NAME",
    "csv_text",
    "ensure_writable_dir",
    "folder_lock",
    "plain_file_mode",
    "read_json",
    "save_figure_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


def _atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {parent} does not exist")
    if path.is_dir():
        raise IsADirectoryError(
            f"cannot write {path}: it is a folder; give the path of a file (in it, or elsewhere)"
        )
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"cannot write {path}: no write access to {parent}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _normal_mode(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _normal_mode(path: Path) -> int:
    """The mode a plain ``open(path, "w")`` would leave: the file's own if it exists, else 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return plain_file_mode()


def plain_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0666 less the umask."""
    umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    return _atomic(path, write)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A header and rows as CSV text (the csv module quotes what needs quoting)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Parse a JSON file; a missing file or bad JSON is an error that names the file and ``what`` it should be."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no {what} at {path}") from None
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path} is not valid JSON ({e.msg} at line {e.lineno}); expected a {what}"
        ) from None


def save_figure_atomic(fig: Any, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Save a matplotlib figure atomically (format from the path's suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return _atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, **kwargs))


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) and check that it can be written to."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"cannot create output folder {path}: {e.strerror}") from None
    if not os.access(path, os.W_OK):
        raise PermissionError(f"no write access to output folder {path}")
    return path


LOCK_NAME = ".spectralkd-lite.lock"


@contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold ``folder/.spectralkd-lite.lock`` for the ``with`` block: a second run writing the same folder
    is refused with FileExistsError instead of silently losing one run's files.

    The lock is the operating system's (``flock``), released when the process ends, so a run that
    crashed or was killed leaves no stuck lock; the file is removed on a normal exit. Where ``fcntl``
    is missing (Windows) nothing is locked.
    """
    path = Path(folder) / LOCK_NAME
    try:
        import fcntl
    except ImportError:  # Windows
        yield path
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            raise FileExistsError(
                f"another run (process {holder}) is writing to {folder}; wait for it to end, or give another "
                "output folder"
            ) from None
        try:  # the holder before us may have removed the file after we opened it: lock the file that is there
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
