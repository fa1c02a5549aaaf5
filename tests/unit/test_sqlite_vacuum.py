"""The embedded hub's SQLite file shrinks once content is destroyed (incremental
auto-vacuum), and a file made before that is converted once by `truc migrate`."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from infra.bootstrap import migrate
from infra.settings import Settings
from infra.sqlite.database import INCREMENTAL, Database
from infra.sqlite.stores import SqliteContentStore

MiB = 1024 * 1024


async def test_the_file_shrinks_after_a_large_package_is_shredded(tmp_path: Path) -> None:
    db = await Database(tmp_path / "truc.sqlite3").open()
    try:
        content = SqliteContentStore(db)
        for index in range(8):
            await content.put_chunk("pkg", index, os.urandom(MiB))
        await db.run(lambda: db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
        full = db.path.stat().st_size
        assert full > 8 * MiB
        assert await content.delete_chunks("pkg", range(8)) == 8
        await db.run(lambda: db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
        assert db.path.stat().st_size < full - 7 * MiB, "the freed pages went back"
    finally:
        await db.close()


async def test_a_package_deleted_batch_by_batch_is_vacuumed_once(tmp_path: Path) -> None:
    """``incremental_vacuum`` and a checkpoint once the package's last chunk is gone, not
    after every batch of the shredder."""
    db = await Database(tmp_path / "truc.sqlite3").open()
    reclaimed: list[int] = []
    real = db.reclaim

    async def counted() -> None:
        reclaimed.append(1)
        await real()

    db.reclaim = counted  # type: ignore[method-assign]
    try:
        content = SqliteContentStore(db)
        for index in range(24):
            await content.put_chunk("pkg", index, os.urandom(1024))
        await content.put_chunk("other", 0, b"x")
        for first in range(0, 24, 8):
            assert await content.delete_chunks("pkg", range(first, first + 8)) == 8
        assert await content.delete_chunks("pkg", range(24)) == 0, "already gone"
        assert reclaimed == [1]
        assert await content.chunk_indexes("other") == [0]
    finally:
        await db.close()


async def test_a_file_made_without_incremental_vacuum_is_converted_by_migrate(
        tmp_path: Path) -> None:
    path = tmp_path / "data" / "truc.sqlite3"
    path.parent.mkdir()
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE legacy (x INTEGER)")  # as every file made before this change
    old.close()
    db = await Database(path).open()
    assert not await db.run(lambda: db.reclaims_space)
    await db.close()
    done = await migrate(Settings(data_dir=path.parent))
    assert any("auto_vacuum=INCREMENTAL" in item for item in done["sqlite"])
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL
    check.close()
    again = await migrate(Settings(data_dir=path.parent))
    assert again["sqlite"] == [str(path)], "once only"
