"""The export stage: the release folder, built in a hidden sibling folder and renamed into place
at the end, and what goes in it (synthetic.csv, ledger.json, DATA_CARD.md; the manifest is
:mod:`privsynth.manifest`'s).

A run killed at any moment leaves either no DIR or the previous DIR; never a half-written
DIR that looks complete. The staging folder is named ``.DIR.staging-<pid>-<random>`` (hidden,
and its name says what it is); a later release into the same DIR removes stale staging
folders whose process is gone, since they may hold synthetic data from an unfinished run.

With ``force`` an existing DIR is replaced: it is first renamed aside (``.DIR.old-...``),
the staging folder takes its name, then the old one is deleted. A kill between those two
renames leaves no DIR (the old one survives under its hidden name), which is the safe side.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from privsynth.errors import UserError

SYNTHETIC = "synthetic.csv"
DATA_CARD = "DATA_CARD.md"
LEDGER = "ledger.json"


def check_target(out: str | os.PathLike, *, force: bool, what: str = "--out") -> Path:
    """Refuse (exit 2) an existing DIR without ``force``, or a DIR that is a file."""
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise UserError(f"{out}: exists and is not a directory; choose another {what}")
        if not force:
            raise UserError(f"{out}: already exists; choose another {what} or pass --force to replace it")
    if not out.parent.exists():
        raise UserError(f"{out.parent}: folder does not exist (parent of {what})")
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(out: Path) -> list[Path]:
    """Delete staging/old folders of DIR left by runs that were killed (their pid is gone)."""
    removed = []
    for prefix in (f".{out.name}.staging-", f".{out.name}.old-"):
        for p in out.parent.glob(prefix + "*"):
            try:
                pid = int(p.name[len(prefix) :].split("-", 1)[0])
            except ValueError:
                continue
            if p.is_dir() and not p.is_symlink() and pid != os.getpid() and not _pid_alive(pid):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Staging:
    """``with Staging(out, force=...) as st: write into st.path; st.commit()``.

    Leaving the block without ``commit()`` (an error, a gate failure handled elsewhere)
    deletes the staging folder. Files are fsynced before the rename so the renamed DIR
    holds complete files even after a power loss.
    """

    def __init__(self, out: str | os.PathLike, *, force: bool = False, private: bool = False):
        self.out = check_target(out, force=force)
        self.force = force
        self.private = private  # keep the folder 0700 after commit (the internal reports)
        self.path: Path | None = None
        self.committed = False

    def __enter__(self) -> Staging:
        remove_stale(self.out)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.staging-{os.getpid()}-", dir=self.out.parent))
        os.chmod(self.path, 0o700)  # private until released: the rename keeps the mode, so widen at commit
        return self

    def __exit__(self, *exc) -> None:
        if not self.committed and self.path is not None and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    def commit(self) -> Path:
        assert self.path is not None, "commit() outside the with-block"
        for f in self.path.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(self.path)
        if not self.private:
            os.chmod(self.path, 0o755 & ~_umask())
        old = None
        if self.out.exists():
            check_target(self.out, force=self.force)  # re-check: DIR may have appeared meanwhile
            old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-{os.getpid()}-", dir=self.out.parent))
            os.replace(self.out, old / "previous")  # rename aside in one step
        try:
            os.rename(self.path, self.out)
        except OSError as err:  # another run's DIR appeared between the check and the rename
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise UserError(
                f"{self.out}: appeared while this run was writing (another release into the same folder?); "
                "this run's output was not released"
            ) from None
        self.committed = True
        _fsync_dir(self.out.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """A single file via a temporary sibling + rename (for outputs outside DIR, e.g. rejected data)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def csv_bytes(texts: list[str], labels: list[str]) -> bytes:
    """synthetic.csv's bytes: columns text,label."""
    import csv
    import io

    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["text", "label"])
    w.writerows(zip(texts, labels))
    return buf.getvalue().encode("utf-8")


def write_release(folder: Path, *, generated, privacy: dict, policy, seed: int, signed: bool) -> str:
    """synthetic.csv, ledger.json (dp) and DATA_CARD.md into ``folder``; returns the creation time."""
    import datetime as _dt
    import json

    from privsynth import __version__, datacard

    (folder / SYNTHETIC).write_bytes(csv_bytes(generated.texts, generated.labels))
    if privacy["mode"] == "dp":
        (folder / LEDGER).write_text(json.dumps(generated.ledger.to_dict(), indent=2) + "\n", encoding="utf-8")
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    (folder / DATA_CARD).write_text(
        datacard.render(
            synthetic_labels=generated.labels,
            synthetic_texts=generated.texts,
            privacy=privacy,
            models=generated.models,
            policy=policy.to_dict(),
            seed=seed,
            created=created,
            version=__version__,
            signed=signed,
        ),
        encoding="utf-8",
    )
    return created
