"""Local `truc admin` commands work on the hub's own data only: --data-dir, --kafka and
--cassandra like `truc serve`, and no silent new data dir (with a new master key) in a
folder that has none. A distributed node without the master key stops with one line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.admin_cli import hoist_local_flags
from api.cli import app
from api.runtime import Runtime
from infra.settings import Settings

TRUC = str(Path(sys.executable).with_name("truc"))


@pytest.fixture(autouse=True)
def no_truc_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("TRUC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def truc(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, hoist_local_flags(list(args)))
    return result.exit_code, result.stdout, result.stderr


def first_start(data_dir: Path) -> None:
    """What the hub does on its first start: its SQLite file and its master key."""
    async def go() -> None:
        runtime = await Runtime.open(Settings(data_dir=data_dir), run_processors=False)
        await runtime.close()

    asyncio.run(go())


def test_a_folder_without_hub_data_is_refused_not_initialised(tmp_path: Path) -> None:
    code, _, err = truc("admin", "agency", "add", "000.00.11.H53", "--name", "Sở A")
    assert code == 2
    assert "no hub data in ./truc-data; pass --data-dir or set TRUC_DATA_DIR" in err
    assert not (tmp_path / "truc-data").exists(), "no new data dir, no new master key"
    code, _, err = truc("admin", "stats", "000.00.11.H53")
    assert code == 2 and "no hub data" in err


def test_data_dir_before_or_after_the_command(tmp_path: Path) -> None:
    hub = tmp_path / "hub-data"
    first_start(hub)
    key = (hub / "master.key").read_bytes()
    code, out, err = truc("admin", "agency", "add", "000.00.11.H53", "--name", "Sở A",
                          "--json", "--data-dir", str(hub))
    assert code == 0, err
    assert json.loads(out)["code"] == "000.00.11.H53"
    code, out, err = truc("admin", f"--data-dir={hub}", "agency", "list", "--json")
    assert code == 0, err
    assert [a["code"] for a in json.loads(out)] == ["000.00.11.H53"]
    assert (hub / "master.key").read_bytes() == key
    assert not (tmp_path / "truc-data").exists()


def test_kafka_without_cassandra_is_refused() -> None:
    code, _, err = truc("admin", "agency", "list", "--kafka", "127.0.0.1:1")
    assert code == 2 and "set both --kafka and --cassandra" in err


def test_the_flags_are_hoisted_only_for_admin() -> None:
    assert hoist_local_flags(["admin", "app", "list", "--kafka", "k:1", "--cassandra=c:2"]
                             ) == ["admin", "--kafka", "k:1", "--cassandra=c:2", "app", "list"]
    assert hoist_local_flags(["serve", "--data-dir", "d"]) == ["serve", "--data-dir", "d"]


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_distributed_node_without_master_key_says_so(command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    result = subprocess.run([TRUC, command, "--kafka", "127.0.0.1:1", "--cassandra",
                             "127.0.0.1:1"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert "no master key: set TRUC_MASTER_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_tables_show_codes_ids_and_names_whole(tmp_path: Path) -> None:
    """Rich cut agency codes and ids at 80 columns ("000.00.1…"); presence showed no names."""
    hub = tmp_path / "hub-data"
    first_start(hub)
    name = "Sở Thông tin và Truyền thông tỉnh Hà Nam, Văn phòng Ủy ban nhân dân"
    code, out, err = truc("admin", "agency", "add", "000.00.11.H53", "--name", name,
                          "--json", "--data-dir", str(hub))
    assert code == 0, err
    agency_id = json.loads(out)["agency_id"]
    code, table, err = truc("admin", "agency", "list", "--data-dir", str(hub))
    assert code == 0, err
    assert agency_id in table and "000.00.11.H53" in table and "…" not in table
    code, presence, err = truc("admin", "presence", "--data-dir", str(hub))
    assert code == 0, err
    assert "000.00.11.H53" in presence and name in presence
