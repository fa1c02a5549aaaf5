"""Online backups of the embedded hub, and restoring one into an empty data directory.

Everything the embedded hub knows is in one SQLite file (events, read models, content in
flight, wrapped keys) plus its master key, so a backup is a consistent copy of that file
taken with SQLite's backup API while the hub keeps running (in WAL mode the copy's read
transaction does not block the hub's writes), the master key next to it, and a manifest
with the copy's SHA-256 so that a restore can refuse a damaged or altered backup.

Restoring rolls the hub back to the moment of the backup: packages delivered and shredded
after it are pending again, with their content, because the backup holds their keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATABASE = "truc.sqlite3"
MASTER_KEY = "master.key"
MANIFEST = "manifest.json"
FORMAT = 1


class BackupError(Exception):
    """What the operator must fix; nothing was written (or only a partial file removed)."""


@dataclass(frozen=True)
class BackupReport:
    path: str
    created_at: str
    bytes: int
    sha256: str
    events: dict[str, int]
    packages: int
    chunks: int
    master_key_included: bool
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def backup(database: Path, master_key: Path | None, target: Path) -> BackupReport:
    """Copies a (possibly running) hub's data into ``target``, which must be new or empty."""
    started = time.monotonic()
    if not database.is_file():
        raise BackupError(f"no embedded hub data at {database}")
    _require_empty(target)
    target.mkdir(parents=True, exist_ok=True)
    partial = target / (DATABASE + ".partial")
    try:
        _copy_online(database, partial)
        _check_integrity(partial)
        partial.rename(target / DATABASE)
    finally:
        partial.unlink(missing_ok=True)
    included = master_key is not None and master_key.is_file()
    if included:
        assert master_key is not None
        _copy_private(master_key, target / MASTER_KEY)
    report = _describe(target / DATABASE, included, started)
    (target / MANIFEST).write_text(json.dumps({"format": FORMAT, **report.as_json()},
                                              indent=2) + "\n")
    return report


def restore(source: Path, database: Path, master_key: Path | None) -> BackupReport:
    """Puts a backup in place of a data directory that has no hub data yet."""
    started = time.monotonic()
    manifest = _manifest(source)
    copy = source / DATABASE
    if not copy.is_file():
        raise BackupError(f"{source} has no {DATABASE}")
    if _sha256(copy) != manifest["sha256"]:
        raise BackupError(f"{copy} does not match the SHA-256 in its manifest: "
                          "the backup is damaged or was altered")
    _check_integrity(copy)
    if database.exists():
        raise BackupError(f"{database} already exists: restore into an empty data directory "
                          "(stop the hub, move the old data away, then restore)")
    key_copy = source / MASTER_KEY
    if manifest["master_key_included"]:
        _check_key_target(key_copy, master_key)
    database.parent.mkdir(parents=True, exist_ok=True)
    partial = database.with_name(database.name + ".partial")
    shutil.copyfile(copy, partial)
    partial.rename(database)
    if manifest["master_key_included"] and master_key is not None and not master_key.exists():
        _copy_private(key_copy, master_key)
    return _describe(database, bool(manifest["master_key_included"]), started)


def _require_empty(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} is not an empty directory: back up into a new one")


def _copy_online(database: Path, partial: Path) -> None:
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    copy = sqlite3.connect(partial)
    try:
        source.execute("PRAGMA busy_timeout=10000")
        source.backup(copy)  # in one step: one read transaction, a consistent copy
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    except sqlite3.Error as exc:
        raise BackupError(f"could not copy {database}: {exc}") from exc
    finally:
        copy.close()
        source.close()


def _check_integrity(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (result,) = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is not a readable SQLite database: {exc}") from exc
    finally:
        conn.close()
    if result != "ok":
        raise BackupError(f"{path} fails SQLite's integrity check: {result}")


def _check_key_target(key_copy: Path, master_key: Path | None) -> None:
    if not key_copy.is_file():
        raise BackupError(f"the manifest lists a master key but {key_copy} is missing")
    if master_key is None:
        raise BackupError("this hub's master key is configured outside the data directory "
                          f"(TRUC_MASTER_KEY): set it to the key in {key_copy} instead")
    if master_key.exists() and master_key.read_bytes().strip() != key_copy.read_bytes().strip():
        raise BackupError(f"{master_key} holds another master key: the backup's data would "
                          "be unreadable with it")


def _copy_private(source: Path, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(source.read_bytes())


def _manifest(source: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{source} has no {MANIFEST}: not a Truc backup") from None
    except ValueError as exc:
        raise BackupError(f"{source / MANIFEST} is not valid JSON: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r} is not {FORMAT}")
    return manifest


def _describe(database: Path, key_included: bool, started: float) -> BackupReport:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        events = dict(conn.execute("SELECT topic, COUNT(*) FROM events GROUP BY topic"))
        (packages,) = conn.execute("SELECT COUNT(*) FROM projection_rows "
                                   "WHERE view = 'packages'").fetchone()
        (chunks,) = conn.execute("SELECT COUNT(*) FROM content_chunks").fetchone()
    finally:
        conn.close()
    return BackupReport(str(database.parent), datetime.now(UTC).isoformat(),
                        database.stat().st_size, _sha256(database), events, packages, chunks,
                        key_included, round(time.monotonic() - started, 3))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while block := data.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
