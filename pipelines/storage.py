"""Atomic writes and content hashes: every published file appears whole or not at all."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout


def write_atomic(path: Path, write: Callable[[Path], object], suffix: str = "") -> Path:
    """Call `write(tmp)` on a temp file beside `path`, then rename it into place.

    `suffix` keeps the extension on the temp name for writers that infer the format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()  # some writers (GDAL, netCDF) refuse to open an existing empty file
        write(tmp)
        os.replace(tmp, path)  # same filesystem: readers see old or new, never half
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def new_version_folder(final: Path) -> Path:
    """An empty folder beside `final` (under `.versions/`) to fill before `publish_folder`."""
    versions = final.parent / ".versions"
    versions.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=versions, prefix=f"{final.name}-"))
    folder.chmod(0o755)  # mkdtemp's 0700 would hide the day from a web server serving the store
    return folder


def publish_folder(version: Path, final: Path) -> Path:
    """Point `final` (a symlink) at the filled `version` folder in one atomic rename.

    Readers of `final` see the old folder or the new one, never a mix; a run killed before
    this call leaves the published folder untouched. Older versions of `final` are removed.
    """
    link = final.parent / f".{final.name}.link-{version.name}"
    link.unlink(missing_ok=True)
    os.symlink(os.path.relpath(version, final.parent), link)
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)  # a plain folder from an older layout: no atomic swap is possible once
    os.replace(link, final)
    for stale in version.parent.glob(f"{final.name}-*"):
        if stale != version:
            shutil.rmtree(stale, ignore_errors=True)
    return final


class PublishError(RuntimeError):
    """A day that cannot be published as a whole (a full disk, a read-only store, a lock held too long);
    what was published before stays as it was."""


@contextlib.contextmanager
def run_lock(path: Path, *, wait_s: float) -> Iterator[bool]:
    """Hold the lock file `path` for one run (an OS lock: freed when the process dies, so a killed run
    never blocks the next). Yields True when another run held it first and this one waited for it,
    False when it was free; PublishError naming the file after `wait_s` seconds of waiting."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
        waited = False
    except Timeout:
        try:
            lock.acquire(timeout=wait_s)
        except Timeout as err:
            raise PublishError(f"{path}: another run has held this lock for more than {wait_s:.0f} s") from err
        waited = True
    try:
        yield waited
    finally:
        lock.release()


def short_hash(text: str) -> str:
    """First 16 hex digits of the SHA-256 of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]
