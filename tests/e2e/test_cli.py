"""The agency commands of `truc` end to end: the real CLI against a real embedded hub."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from api.client import TrucClient
from infra.rsa_keys import generate_rsa_keypair
from tests.e2e.exchange import next_code
from tests.e2e.hubs import TRUC, RunningHub, running_hub

MiB = 1024 * 1024
Env = dict[str, str]


@pytest.fixture(scope="module")
def cli_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One embedded hub for the module (the exchange itself is tested on both backends)."""
    with running_hub("embedded", tmp_path_factory.mktemp("cli-hub")) as hub:
        yield hub


def agency_env(hub: RunningHub, key: dict[str, Any]) -> Env:
    """What an agency's machine has: the hub's address and its app's key pair, no more."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    return {**env, "TRUC_URL": hub.url, "TRUC_ACCESS_KEY": key["access_key"],
            "TRUC_SECRET_KEY": key["secret_key"]}


def truc(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRUC, *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def truc_json(env: Env, *args: str) -> Any:
    result = truc(env, *args, "--json")
    assert result.returncode == 0, f"truc {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout)


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Independent commands at once (each `truc` process takes a second to start)."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def refused(env: Env, *args: str) -> str:
    """The stderr of a command that must exit with 2."""
    result = truc(env, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def ops_key(cli_hub: RunningHub) -> dict[str, Any]:
    key: dict[str, Any] = cli_hub.admin("operator", "add", "Trung tâm CNTT", "--role",
                                        "admin")["key"]
    return key


async def approved_apps(hub: RunningHub, admin: dict[str, Any], codes: list[str],
                        rsa_public_key: str | None = None) -> list[dict[str, Any]]:
    """Agencies with an approved app each, through an operator's key (faster than one
    local `truc admin` process per step)."""
    keys = []
    async with TrucClient(hub.url, admin["access_key"], admin["secret_key"]) as ops:
        for code in codes:
            await ops.call("POST", "/v1/ops/agencies", json_body={"code": code, "name": code})
            app = await ops.call("POST", "/v1/ops/apps", json_body={
                "agency_code": code, "name": "QLVB", "rsa_public_key_pem": rsa_public_key})
            approved = await ops.call("POST", f"/v1/ops/apps/{app['app_id']}/approve",
                                      json_body={})
            keys.append({"code": code, **approved["key"]})
    return keys


@pytest.fixture(scope="module")
async def parties(cli_hub: RunningHub, ops_key: dict[str, Any]) -> dict[str, Env]:
    names = ("source", "a", "b", "c")
    codes = [next_code() for _ in names]
    keys = await approved_apps(cli_hub, ops_key, codes)
    return {name: {**agency_env(cli_hub, key), "CODE": key["code"]}
            for name, key in zip(names, keys, strict=True)}


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-content") / "ho-so.pdf"
    path.write_bytes(os.urandom(3 * MiB + 12345))
    return path


@pytest.fixture(scope="module")
def sent(parties: dict[str, Env], content: Path) -> dict[str, Any]:
    to = f"{parties['a']['CODE']},{parties['b']['CODE']}"
    sealed: dict[str, Any] = truc_json(
        parties["source"], "send", "--to", to, "--title", "Hồ sơ đất đai số 7",
        "--type", "pdf", "--priority", "urgent", "--deadline", "2099-01-01T00:00:00+07:00",
        str(content))
    return sealed


@contextmanager
def watching(env: Env, *args: str) -> Iterator[Callable[[], dict[str, Any]]]:
    """`truc watch --json` in the background; yields a reader of its next notice."""
    proc = subprocess.Popen([TRUC, "watch", "--json", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in out], daemon=True).start()

    def next_notice() -> dict[str, Any]:
        try:
            return dict(json.loads(lines.get(timeout=30)))
        except queue.Empty:
            raise AssertionError(f"truc watch {' '.join(args)}: no notice in 30 s") from None

    try:
        yield next_notice
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# First of the tests: the hub notices a closed WebSocket only at its next heartbeat (15 s),
# and it cannot stop before; by the end of the module that has long passed.
def test_watch_prints_notices_as_they_arrive(parties: dict[str, Env], tmp_path: Path) -> None:
    doc = tmp_path / "cv.txt"
    doc.write_text("Công văn hỏa tốc")
    with watching(parties["c"]) as on_ws, watching(parties["c"], "--sse") as on_sse:
        for next_notice in (on_ws, on_sse):
            hello = next_notice()
            assert hello["type"] == "hello" and hello["agency"] == parties["c"]["CODE"]
        sent = truc_json(parties["source"], "send", "--to", parties["c"]["CODE"],
                         "--title", "Công văn", "--priority", "flash", str(doc))
        for next_notice in (on_ws, on_sse):
            notice = next_notice()
            assert notice["type"] == "package.available"
            assert (notice["package_id"], notice["priority"]) == (sent["package_id"], "flash")


def test_send_uploads_and_seals_for_two_destinations(sent: dict[str, Any], content: Path,
                                                     parties: dict[str, Env]) -> None:
    assert sent["state"] == "sealed"
    assert sent["sha256"] == hashlib.sha256(content.read_bytes()).hexdigest()
    assert sent["size"] == content.stat().st_size
    assert sent["deadline"] == "2098-12-31T17:00:00+00:00"
    assert sent["recipients"] == [parties["a"]["CODE"], parties["b"]["CODE"]]


def test_inbox_shows_the_package_at_each_destination(sent: dict[str, Any],
                                                     parties: dict[str, Env]) -> None:
    a, b, c, table = concurrently(
        partial(truc_json, parties["a"], "inbox"), partial(truc_json, parties["b"], "inbox"),
        partial(truc_json, parties["c"], "inbox"),
        partial(truc, parties["a"], "inbox"))
    for waiting in (a, b):
        assert [(i["package_id"], i["title"], i["priority"], i["source"]) for i in waiting] \
            == [(sent["package_id"], "Hồ sơ đất đai số 7", "urgent", parties["source"]["CODE"])]
    assert sent["package_id"] not in [i["package_id"] for i in c]
    assert table.returncode == 0
    assert sent["package_id"] in table.stdout and "Hồ sơ đất đai số 7" in table.stdout


def test_fetch_writes_identical_bytes_and_prints_the_digest(
        sent: dict[str, Any], content: Path, parties: dict[str, Env], tmp_path: Path) -> None:
    target = tmp_path / "a.pdf"
    result = truc(parties["a"], "fetch", sent["package_id"], "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == content.read_bytes()
    assert result.stdout.split() == [sent["sha256"], str(target)]


def test_fetch_resumes_a_partial_file(sent: dict[str, Any], content: Path,
                                      parties: dict[str, Env], tmp_path: Path) -> None:
    target = tmp_path / "b.pdf"
    target.write_bytes(content.read_bytes()[:MiB + 100])
    fetched = truc_json(parties["b"], "fetch", sent["package_id"], "-o", str(target))
    assert fetched["verified"] is True and fetched["sha256"] == sent["sha256"]
    assert target.read_bytes() == content.read_bytes()


def test_fetch_refuses_a_file_that_does_not_match(sent: dict[str, Any], content: Path,
                                                  parties: dict[str, Env],
                                                  tmp_path: Path) -> None:
    target = tmp_path / "corrupt.pdf"
    target.write_bytes(bytes(MiB))  # a "partial download" that is not the package's
    result = truc(parties["b"], "fetch", sent["package_id"], "-o", str(target))
    assert result.returncode == 1
    assert "does not match the package" in result.stderr and sent["sha256"] in result.stderr
    assert target.stat().st_size == content.stat().st_size


def test_report_status_then_ack_with_the_file(sent: dict[str, Any], content: Path,
                                              parties: dict[str, Env]) -> None:
    reported = truc_json(parties["a"], "report-status", sent["package_id"], "03",
                         "--note", "Đã vào sổ")
    assert [s["code"] for s in reported["deliveries"][0]["statuses"]] == ["03"]
    acked = truc_json(parties["a"], "ack", sent["package_id"], "--file", str(content))
    assert [d["state"] for d in acked["deliveries"]] == ["acknowledged"]


def test_ack_with_a_wrong_digest_is_refused(sent: dict[str, Any],
                                            parties: dict[str, Env]) -> None:
    error = refused(parties["b"], "ack", sent["package_id"], "--sha256", "0" * 64)
    assert error.startswith("error [digest_mismatch]: ")


def test_status_shows_deliveries_statuses_and_timeline(sent: dict[str, Any],
                                                       parties: dict[str, Env]) -> None:
    view = truc_json(parties["source"], "status", sent["package_id"])
    by_code = {d["agency_code"]: d for d in view["deliveries"]}
    a, b = by_code[parties["a"]["CODE"]], by_code[parties["b"]["CODE"]]
    assert a["state"] == "acknowledged" and [s["code"] for s in a["statuses"]] == ["03"]
    assert b["state"] == "fetched"
    steps = [s["what"] for s in view["timeline"]]
    assert steps[:3] == ["PackageRequested", "SpaceGranted", "PackageSealed"]
    assert {"DeliveryFetched", "StatusReported", "DeliveryAcknowledged"} <= set(steps)
    human = truc(parties["source"], "status", sent["package_id"])
    assert human.returncode == 0 and "acknowledged" in human.stdout


def test_the_last_ack_completes_the_package_and_destroys_the_content(
        sent: dict[str, Any], content: Path, parties: dict[str, Env], tmp_path: Path) -> None:
    truc_json(parties["b"], "ack", sent["package_id"], "--sha256", sent["sha256"])
    view = truc_json(parties["source"], "status", sent["package_id"])
    assert view["state"] == "completed" and view["shredded"] is True
    error = refused(parties["b"], "fetch", sent["package_id"], "-o", str(tmp_path / "x"))
    assert error.startswith("error [content_shredded]: ")


def test_missing_configuration_says_what_to_set(parties: dict[str, Env]) -> None:
    bare = {k: v for k, v in parties["a"].items() if not k.startswith("TRUC_")}
    error = refused(bare, "inbox")
    assert "TRUC_URL" in error and "TRUC_ACCESS_KEY" in error and "TRUC_SECRET_KEY" in error


def test_refusals_and_bad_arguments_exit_with_2(parties: dict[str, Env],
                                                tmp_path: Path) -> None:
    unknown, no_file, no_digest = concurrently(
        partial(refused, parties["a"], "fetch", "no-such-package", "-o", str(tmp_path / "x")),
        partial(refused, parties["source"], "send", "--to", "x", "--title", "t",
                str(tmp_path / "missing.pdf")),
        partial(refused, parties["a"], "ack", "some-id"))
    assert unknown.startswith("error [package_not_found]: ")
    assert "does not exist" in no_file
    assert "--sha256" in no_digest


async def test_an_rsa_app_signs_with_its_private_key_file(
        cli_hub: RunningHub, ops_key: dict[str, Any], tmp_path: Path) -> None:
    private_pem, public_pem = generate_rsa_keypair()
    (tmp_path / "private.pem").write_text(private_pem)
    [key] = await approved_apps(cli_hub, ops_key, [next_code()], rsa_public_key=public_pem)
    assert key["secret_key"] is None
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    env.update(TRUC_URL=cli_hub.url, TRUC_ACCESS_KEY=key["access_key"],
               TRUC_PRIVATE_KEY_FILE=str(tmp_path / "private.pem"))
    assert truc_json(env, "inbox") == []
    error = refused({**env, "TRUC_PRIVATE_KEY_FILE": str(tmp_path / "none.pem")}, "inbox")
    assert "TRUC_PRIVATE_KEY_FILE" in error
