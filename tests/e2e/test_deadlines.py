"""Deadlines end to end on both backends (Điều 5.4, 5.9): the watchdog expires a delivery
and tells the source; the source extends, redirects and cancels deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.client import TrucClient, TrucError
from tests.e2e.exchange import agency_with_app, client, first
from tests.e2e.hubs import TRUC, RunningHub


def soon(seconds: float) -> str:
    """A deadline ``seconds`` from now, in whole seconds (events keep milliseconds)."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0).isoformat()


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "cong-van.txt"
    path.write_bytes("Công văn hỏa tốc về việc phòng chống bão".encode() * 50)
    return path


def delivery(view: dict[str, Any], code: str) -> dict[str, Any]:
    return next(d for d in view["deliveries"] if d["agency_code"] == code)


def cli(hub: RunningHub, key: dict[str, Any], *args: str) -> Any:
    """`truc` as an agency's machine runs it, with only the hub's address and its key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    env.update({"TRUC_URL": hub.url, "TRUC_ACCESS_KEY": key["access_key"],
                "TRUC_SECRET_KEY": key["secret_key"]})
    result = subprocess.run([TRUC, *args, "--json"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def refusal(call: Any) -> TrucError:
    with pytest.raises(TrucError) as refused:
        await call
    return refused.value


async def test_a_passed_deadline_expires_the_delivery_and_tells_the_source(
        hub: RunningHub, doc: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    async with client(hub, source) as src, client(hub, dest) as dst:
        notices = src.watch()
        await first(notices, "hello")
        sealed = await src.send([dest["code"]], "Hạn 4 giây", doc, deadline=soon(4))
        package_id = sealed["package_id"]
        expired = await first(notices, "delivery.expired", package_id, seconds=30)
        assert (expired["destination"], expired["reason"]) == (dest["code"], "deadline")
        await first(notices, "package.completed", package_id)
        view = await src.package(package_id)
        refused = await refusal(dst.ack(package_id, sealed["sha256"]))
        late = await refusal(src.extend(package_id, dest["code"], soon(3600)))
    assert delivery(view, dest["code"])["state"] == "expired"
    assert delivery(view, dest["code"])["reason"] == "deadline"
    assert view["state"] == "completed"
    assert refused.code == "delivery_expired"
    assert (late.status, late.code) == (410, "content_shredded")


async def test_extend_keeps_a_delivery_open_and_reopens_an_expired_one(
        hub: RunningHub, doc: Path, tmp_path: Path) -> None:
    source, kept, late = (agency_with_app(hub) for _ in range(3))
    async with client(hub, source) as src, client(hub, late) as dst:
        notices = src.watch()
        await first(notices, "hello")
        sealed = await src.send([kept["code"], late["code"]], "Gia hạn", doc,
                                deadline=soon(60))
        package_id = sealed["package_id"]
        await src.extend(package_id, late["code"], soon(3))  # a deadline may also come closer
        new_deadline = soon(3600)
        extended = cli(hub, source, "extend", package_id, "--to", kept["code"],
                       "--deadline", new_deadline)
        assert datetime.fromisoformat(delivery(extended, kept["code"])["deadline"]) == \
            datetime.fromisoformat(new_deadline)
        expired = await first(notices, "delivery.expired", package_id, seconds=30)
        assert expired["destination"] == late["code"]
        view = await src.package(package_id)
        assert delivery(view, kept["code"])["state"] in ("planned", "notified")
        past = await refusal(src.extend(package_id, late["code"], soon(-60)))
        assert (past.status, past.code) == (400, "invalid_deadline")
        stranger = await refusal(dst.extend(package_id, late["code"], soon(3600)))
        assert stranger.code == "package_not_found"
        reopened = await src.extend(package_id, late["code"], soon(3600))
        assert delivery(reopened, late["code"])["state"] == "planned"
        digest = await dst.fetch(package_id, tmp_path / "late.bin")
        acked = await dst.ack(package_id, digest)
    assert delivery(acked, late["code"])["state"] == "acknowledged"


async def test_redirect_delivers_to_the_new_agency_instead(
        hub: RunningHub, doc: Path, tmp_path: Path) -> None:
    source, wrong, right = (agency_with_app(hub) for _ in range(3))
    async with client(hub, source) as src, client(hub, wrong) as old, \
            client(hub, right) as new:
        notices, old_notices, new_notices = src.watch(), old.watch(), new.watch()
        for stream in (notices, old_notices, new_notices):
            await first(stream, "hello")
        sealed = await src.send([wrong["code"]], "Gửi nhầm đơn vị", doc, deadline=soon(3600))
        package_id = sealed["package_id"]
        unknown = await refusal(src.redirect(package_id, wrong["code"], "000.00.99.H99"))
        assert (unknown.status, unknown.code) == (400, "unknown_destination")
        view = cli(hub, source, "redirect", package_id, "--from", wrong["code"],
                   "--to", right["code"])
        assert delivery(view, wrong["code"])["state"] == "redirected"
        assert delivery(view, right["code"])["state"] == "planned"
        twice = await refusal(src.redirect(package_id, wrong["code"], right["code"]))
        assert twice.code == "delivery_closed"
        again = await refusal(src.redirect(package_id, right["code"], right["code"]))
        assert again.code == "already_recipient"
        told = await first(notices, "delivery.redirected", package_id)
        assert (told["from"], told["to"]) == (wrong["code"], right["code"])
        assert (await first(old_notices, "delivery.recalled", package_id))["reason"] == \
            "redirected"
        await first(new_notices, "package.available", package_id)
        gone = await refusal(old.fetch(package_id, tmp_path / "old.bin"))
        assert (gone.status, gone.code) == (410, "delivery_redirected")
        digest = await new.fetch(package_id, tmp_path / "new.bin")
        acked = await new.ack(package_id, digest)
        await first(notices, "package.completed", package_id)
    assert acked["state"] == "completed"


async def test_cancel_recalls_deliveries_and_destinations_can_no_longer_fetch(
        hub: RunningHub, doc: Path, tmp_path: Path) -> None:
    source, first_dest, second_dest = (agency_with_app(hub) for _ in range(3))
    async with client(hub, source) as src, client(hub, first_dest) as a, \
            client(hub, second_dest) as b:
        a_notices = a.watch()
        await first(a_notices, "hello")
        sealed = await src.send([first_dest["code"], second_dest["code"]], "Thu hồi", doc)
        package_id = sealed["package_id"]
        view = cli(hub, source, "cancel", package_id, "--to", first_dest["code"],
                   "--reason", "gửi nhầm")
        assert delivery(view, first_dest["code"])["state"] == "recalled"
        recalled = await first(a_notices, "delivery.recalled", package_id)
        assert recalled["reason"] == "gửi nhầm"
        gone = await refusal(a.fetch(package_id, tmp_path / "a.bin"))
        assert (gone.status, gone.code) == (410, "delivery_recalled")
        assert package_id not in [i["package_id"] for i in await a.inbox()]
        again = await refusal(src.cancel(package_id, first_dest["code"]))
        assert again.code == "delivery_closed"
        rest = await src.cancel(package_id)
        assert delivery(rest, second_dest["code"])["state"] == "recalled"
        assert rest["state"] == "completed"
        closed = await refusal(b.fetch(package_id, tmp_path / "b.bin"))
    assert closed.code == "delivery_recalled"


async def test_the_inbox_lists_flash_before_urgent_before_normal(
        hub: RunningHub, doc: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    async with client(hub, source) as src, client(hub, dest) as dst:
        sent = {}
        for priority in ("normal", "urgent", "flash"):
            sent[priority] = (await src.send([dest["code"]], priority, doc,
                                             priority=priority))["package_id"]
        listed = [i["package_id"] for i in await dst.inbox()]
        connected = dst.watch()
        await first(connected, "hello")
        told = [(await first(connected, "package.available"))["package_id"] for _ in range(3)]
    expected = [sent["flash"], sent["urgent"], sent["normal"]]
    assert listed == expected
    assert told == expected, "waiting packages are told on connect in priority order"


async def test_a_destination_offline_longer_than_the_policy_allows_expires(
        hub: RunningHub, doc: Path) -> None:
    """Presence and the watchdog together: a destination never seen online expires after
    the seal's offline wait; one holding a stream stays open until it goes away, then
    expires the same wait later. The source is told each time, with the reason."""
    source, present, absent = (agency_with_app(hub) for _ in range(3))
    async with client(hub, source) as src, client(hub, present) as here:
        notices = src.watch()
        await first(notices, "hello")
        holding = asyncio.create_task(hold(here))
        await until_online(hub, present["code"])
        sealed = await src.send([present["code"], absent["code"]], "Chờ đơn vị", doc,
                                offline_wait_seconds=3)
        package_id = sealed["package_id"]
        gone = await first(notices, "delivery.expired", package_id, seconds=30)
        assert (gone["destination"], gone["reason"]) == (absent["code"], "offline")
        await asyncio.sleep(4)  # longer than the wait: the destination online stays open
        view = await src.package(package_id)
        assert delivery(view, present["code"])["state"] in ("planned", "notified")
        holding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await holding
        later = await first(notices, "delivery.expired", package_id, seconds=30)
        assert (later["destination"], later["reason"]) == (present["code"], "offline")
        view = await src.package(package_id)
    assert delivery(view, present["code"])["state"] == "expired"
    assert delivery(view, absent["code"])["reason"] == "offline"


async def hold(app: TrucClient) -> None:
    """Holds the app's stream (answering the hub's pings) until cancelled."""
    async with contextlib.aclosing(app.watch()) as stream:
        async for _ in stream:
            pass


async def until_online(hub: RunningHub, code: str, seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while True:
            rows = await asyncio.to_thread(hub.ops, "GET", "/v1/ops/presence")
            if any(r["agency_code"] == code and r["online"] for r in rows):
                return
            await asyncio.sleep(0.2)
