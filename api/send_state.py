"""`truc send` resumes an interrupted send by default: the CLI keeps its own idempotency
key per file and destination in a small state file under the user's cache directory
(``$XDG_CACHE_HOME/truc/sends.json``, else ``~/.cache/truc/sends.json``).

The same file (path, size, modification time), to the same recipients, with the same
title, type and priority, on the same hub with the same app, gets the same key until the
send succeeds; then the entry is dropped, so sending the file again later is a new
package. An entry older than the hub's upload space (24 h) is not reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

MAX_AGE_SECONDS = 23 * 3600


def state_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "truc" / "sends.json"


def identity(path: Path, recipients: list[str], hub: str, access_key: str,
             **fields: Any) -> str:
    """What makes two sends "the same send", hashed (the state file holds no names)."""
    stat = path.stat()
    parts = {"file": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns,
             "to": sorted(recipients), "hub": hub, "app": access_key, **fields}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _load() -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(entries: dict[str, dict[str, Any]]) -> None:
    target = state_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(entries))
        partial.replace(target)
    except OSError:
        pass  # no place to keep it: the send works, it just cannot resume by itself


def key_for(send: str) -> str:
    """The key of this send: the one kept from an interrupted try, or a new one, kept."""
    entries = {k: v for k, v in _load().items()
               if time.time() - float(v.get("at", 0)) < MAX_AGE_SECONDS}
    entry = entries.get(send)
    if entry is None:
        entry = {"key": f"truc-cli-{uuid.uuid4().hex}", "at": time.time()}
        entries[send] = entry
        _save(entries)
    return str(entry["key"])


def done(send: str) -> None:
    """The send succeeded (or was refused for good): the next one is a new package."""
    entries = _load()
    if entries.pop(send, None) is not None:
        _save(entries)
