"""The registry's audit chain on a running hub (issue 16): intact after operator actions
on both backends; an action altered in the embedded hub's log is found by
``truc admin audit verify`` and shown on the console's audit page."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

from hub.topics import REGISTRY
from infra.avro import default_codec
from tests.e2e.console_helpers import console_user, logged_in
from tests.e2e.exchange import agency_with_app
from tests.e2e.hubs import RunningHub


def verified(hub: RunningHub) -> tuple[int, dict[str, object]]:
    done = hub.truc("admin", "audit", "verify", "--json", check=False)
    return done.returncode, json.loads(done.stdout)


def test_operator_actions_are_chained(hub: RunningHub) -> None:
    agency_with_app(hub)
    status, verdict = verified(hub)
    assert status == 0 and verdict["intact"] is True
    assert int(str(verdict["linked"])) >= 5  # operator, its key, agency, app, approval, key


def test_an_altered_action_is_found_and_shown(hub: RunningHub) -> None:
    if hub.backend != "embedded":
        return  # a Kafka log is not rewritten in place; the chain is checked above
    code = agency_with_app(hub)["code"]
    offset = _rename(Path(hub.env["TRUC_DATA_DIR"]) / "truc.sqlite3", code)
    status, verdict = verified(hub)
    assert status == 1 and verdict["intact"] is False
    breaks = verdict["breaks"]
    assert isinstance(breaks, list)
    assert [b["offset"] for b in breaks] == [offset]
    assert "altered" in breaks[0]["reason"]
    console_user(hub, "kiemtoan@truc.local", "auditor")
    page = logged_in(hub, "kiemtoan@truc.local").get("/console/audit").text
    assert 'id="chain"' in page and f"registry/0/{offset}" in page


def _rename(path: Path, code: str) -> int:
    """Rewrites the AgencyRegistered of ``code`` in place, as a forger with the file would,
    while the hub runs: the write lock is taken first (``BEGIN IMMEDIATE``, waiting out the
    hub's group commits), so the row read is the one rewritten. Reading first and writing
    later would upgrade a stale read snapshot, which SQLite refuses at once ("database is
    locked", SQLITE_BUSY_SNAPSHOT) if the hub committed in between, whatever the timeout."""
    codec = default_codec()
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        rows = db.execute("SELECT offset, payload FROM events WHERE topic=? ORDER BY offset",
                          (REGISTRY,)).fetchall()
        for offset, payload in rows:
            event = codec.decode(bytes(payload))
            if getattr(event, "code", None) == code:
                forged = codec.encode(dataclasses.replace(event, name="Đơn vị giả mạo"))
                db.execute("UPDATE events SET payload=? WHERE topic=? AND offset=?",
                           (forged, REGISTRY, offset))
                db.execute("COMMIT")
                return int(offset)
        db.execute("ROLLBACK")
    finally:
        db.close()
    raise AssertionError(f"no AgencyRegistered for {code}")
