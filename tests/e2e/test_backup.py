"""`truc backup` while the embedded hub runs, and `truc restore` into a new data directory:
the restored hub knows its agencies and keys and still holds the content in flight at the
moment of the backup. Bad targets and altered backups are refused and change nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub, running_hub


def truc_on(hub: RunningHub, data: Path, *args: str) -> tuple[int, str, str]:
    """A `truc` command on another data directory, with the hub's other settings."""
    env = {**hub.env, "TRUC_DATA_DIR": str(data)}
    result = RunningHub(hub.url, env, hub.cwd, hub.backend, hub.logs).truc(*args, check=False)
    return result.returncode, result.stdout, result.stderr


async def test_backup_while_running_then_restore_into_a_new_data_dir(tmp_path: Path) -> None:
    content = os.urandom(300_000)
    doc = tmp_path / "to-trinh.bin"
    doc.write_bytes(content)
    backup_dir = tmp_path / "backup"
    for where in ("old", "new"):
        (tmp_path / where).mkdir()
    with running_hub("embedded", tmp_path / "old") as old:
        source, dest = agency_with_app(old), agency_with_app(old)
        async with client(old, source) as src:
            package_id = (await src.send([dest["code"]], "Tờ trình", doc))["package_id"]
        made = json.loads(old.truc("backup", str(backup_dir), "--json").stdout)
        assert made["master_key_included"] is True
        assert made["packages"] >= 1 and made["chunks"] >= 1
        assert made["events"]["packages"] > 0 and made["events"]["registry"] > 0
        assert (backup_dir / "master.key").stat().st_mode & 0o077 == 0, "key kept private"
        again = old.truc("backup", str(backup_dir), check=False)
        assert again.returncode == 2 and "not an empty directory" in again.stderr
        async with client(old, dest) as dst:  # delivered and shredded after the backup
            await dst.ack(package_id, await dst.fetch(package_id, tmp_path / "first"))

        new_data = tmp_path / "new" / "data"
        code, out, err = truc_on(old, new_data, "restore", str(backup_dir))
        assert code == 0, err
        assert "restored" in out and "master key included" in out
        code, _, err = truc_on(old, new_data, "restore", str(backup_dir))
        assert code == 2 and "already exists" in err

        altered = tmp_path / "altered"
        shutil.copytree(backup_dir, altered)
        with (altered / "truc.sqlite3").open("r+b") as db:
            db.seek(5000)
            db.write(b"\xff\xfe")
        code, _, err = truc_on(old, tmp_path / "elsewhere", "restore", str(altered))
        assert code == 2 and "does not match the SHA-256" in err
        assert not (tmp_path / "elsewhere" / "truc.sqlite3").exists()

    with running_hub("embedded", tmp_path / "new") as restored:
        async with client(restored, dest) as dst:
            view = await dst.package(package_id)
            assert view["deliveries"][0]["state"] != "acknowledged", "rolled back to the backup"
            digest = await dst.fetch(package_id, tmp_path / "again")
        assert digest == hashlib.sha256(content).hexdigest()
        assert (tmp_path / "again").read_bytes() == content


def test_backup_refuses_the_distributed_backend(tmp_path: Path) -> None:
    hub = RunningHub("http://127.0.0.1:1", {**os.environ, "TRUC_KAFKA": "127.0.0.1:1",
                                             "TRUC_CASSANDRA": "127.0.0.1:1",
                                             "TRUC_MASTER_KEY": "A" * 44},
                     tmp_path, "distributed", tmp_path / "log")
    result = hub.truc("backup", str(tmp_path / "b"), check=False)
    assert result.returncode == 2 and "docs/operating.md" in result.stderr
    assert not (tmp_path / "b").exists()
