"""The tamper-evident audit trail: every registry action is followed, in its partition of
the registry topic, by an ``AuditLinked`` event that carries the action's digest and the
hash of the link before it — a hash chain per partition, as a ledger.

Whoever alters an action (its digest no longer matches), removes one (a link names an
action that is not there), inserts one (an action no link names), or removes or alters a
link (the next link's ``prev_hash`` no longer matches) breaks the chain where it happened,
and ``verify`` says where. Actions recorded before the chain began (before the first link
of their partition, by an older hub, and named by no link) are counted apart, not judged.

Two nodes recording actions in the same partition at the same instant can each link to
the same predecessor: ``verify`` reports such a fork like any other break (operators act
at human pace; one admin node is the rule). The digest is taken over a canonical JSON of
the event's fields, so it does not depend on the log's encoding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub import events as ev

GENESIS = "0" * 64


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
"""Made once: ``json.dumps`` with these options builds an encoder per call (a directory
sync digests 110,000 actions)."""
_AS_IS = frozenset({str, int, bool, type(None)})


def digest(event: ev.Event) -> str:
    """SHA-256 of the event's type and fields as canonical JSON."""
    body = {name: _plain(getattr(event, name)) for name in _field_names(type(event))}
    text = _CANONICAL.encode([type(event).__name__, body])
    return hashlib.sha256(text.encode()).hexdigest()


_FIELDS: dict[type[ev.Event], tuple[str, ...]] = {}


def _field_names(kind: type[ev.Event]) -> tuple[str, ...]:
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def _plain(value: Any) -> Any:
    if type(value) in _AS_IS:
        return value
    if isinstance(value, datetime):  # as the log keeps it: UTC, to the millisecond
        at = value.astimezone(UTC)
        return at.replace(microsecond=at.microsecond // 1000 * 1000).isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def link_hash(prev_hash: str, action_digest: str, subject_event_id: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{action_digest}|{subject_event_id}".encode()
                          ).hexdigest()


def link(action: ev.Event, key: str, prev_hash: str, envelope: ev.Envelope) -> ev.AuditLinked:
    """The link that follows ``action`` (recorded under ``key``, the action's own)."""
    found = digest(action)
    return ev.AuditLinked(**envelope, key=key, subject_event_id=action.event_id,
                          subject_type=type(action).__name__, digest=found,
                          prev_hash=prev_hash,
                          hash=link_hash(prev_hash, found, action.event_id))


@dataclass(frozen=True)
class Break:
    partition: int
    offset: int
    event_id: str
    reason: str


@dataclass
class Verdict:
    linked: int = 0
    before_chain: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks


@dataclass
class _Partition:
    head: str = GENESIS
    started: bool = False
    pending: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Actions not linked yet: event id -> (offset, digest)."""
    before: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Actions recorded before the first link: from before the chain began, unless a
    later link vouches for one (a directory sync on a fresh hub appends a window of
    actions, then their links: the first link starts the chain, the others follow)."""


def verify(records: Iterable[tuple[int, int, ev.Event]]) -> Verdict:
    """``records``: (partition, offset, event) of the registry topic, in log order."""
    verdict = Verdict()
    parts: dict[int, _Partition] = {}
    for partition, offset, event in records:
        part = parts.setdefault(partition, _Partition())
        if isinstance(event, ev.AuditLinked):
            _check_link(verdict, part, partition, offset, event)
        else:
            part.pending[event.event_id] = (offset, digest(event))
    for partition, part in parts.items():
        verdict.before_chain += len(part.before)
        for event_id, (offset, _) in part.pending.items():
            verdict.breaks.append(Break(partition, offset, event_id,
                                        "an action no link vouches for (inserted?)"))
    verdict.breaks.sort(key=lambda b: (b.partition, b.offset))
    return verdict


def _check_link(verdict: Verdict, part: _Partition, partition: int, offset: int,
                found: ev.AuditLinked) -> None:
    if not part.started:
        part.started = True
        part.before = {e: at for e, at in part.pending.items()
                       if e != found.subject_event_id}
        part.pending = {e: at for e, at in part.pending.items() if e not in part.before}
    subject = part.pending.pop(found.subject_event_id, None) or \
        part.before.pop(found.subject_event_id, None)
    problem = None
    if found.prev_hash != part.head:
        problem = "the link before this one was removed or altered"
    elif found.hash != link_hash(found.prev_hash, found.digest, found.subject_event_id):
        problem = "this link was altered"
    elif subject is None:
        problem = f"the action {found.subject_type} it vouches for is missing (removed?)"
    elif subject[1] != found.digest:
        problem = f"the action {found.subject_type} was altered"
    if problem is None:
        verdict.linked += 1
    else:
        where = offset if subject is None or problem.startswith("the link") else subject[0]
        verdict.breaks.append(Break(partition, where, found.subject_event_id, problem))
    part.head = found.hash
