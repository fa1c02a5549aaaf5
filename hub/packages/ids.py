"""Ids of the events the hub derives from another: computed from the cause, so a step
run again after a crash derives the very same events, and the folds take each once."""

from __future__ import annotations

import uuid

from hub import events as ev

_NAMESPACE = uuid.UUID("6f1c3f0e-2b1a-4f5e-9a53-7d1f0c2a9b10")


def derived_id(cause: ev.Event, what: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{cause.event_id}/{what}"))
