"""The follow-ups of a sealed edXML package, recorded with its seal (issue 14).

A status package's ``StatusReported`` on the document it answers, the recall a revoking
document or a 13 makes (``hub.edxml.flows``): decided on seal, but they belong to other
packages' keys, so they cannot join the seal's atomic batch as they are. Recorded after
it, a crash in between lost them for good. So the seal's batch carries them as one
``FollowUpsDecided`` on the sealing package's key, and the package processor appends
each onto its own package (``effects``), before its tracking record, with an id derived
from the decision: a processor that runs the step again appends the same ids, which the
package fold (``hub.packages.model.evolve``) has already taken.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from hub import events as ev
from hub.packages.ids import derived_id

FOLLOWED: dict[str, type[ev.Event]] = {cls.__name__: cls for cls in (
    ev.StatusReported, ev.DeliveryRecalled)}
"""The events a seal may cause on other packages."""
_ENVELOPE = frozenset(ev.Envelope.__annotations__)


def decided(sealed: ev.PackageSealed, caused: Sequence[ev.Event]
            ) -> ev.FollowUpsDecided | None:
    """The decision to record with ``sealed``, in its batch; None when it causes
    nothing. Its id derives from the seal's: a seal decided again (a retry whose claim
    expired before the read model showed the first) decides the same follow-ups under
    the same ids, which the fold takes once."""
    if not caused:
        return None
    return ev.FollowUpsDecided(
        event_id=derived_id(sealed, "follow-ups"), occurred_at=sealed.occurred_at,
        actor=sealed.actor, correlation_id=sealed.correlation_id,
        package_id=sealed.package_id, follow_ups=[_encoded(e) for e in caused])


def effects(decision: ev.FollowUpsDecided) -> tuple[ev.Event, ...]:
    """The events the decision appends, each on its own package, always with the same
    ids. A follow-up that is not one of ``FOLLOWED`` or does not fit its event is a
    ``ValueError``: the driver sets the decision aside as a dead letter."""
    return tuple(_decoded(decision, i, text) for i, text in enumerate(decision.follow_ups))


def _encoded(event: ev.Event) -> str:
    name = type(event).__name__
    if name not in FOLLOWED:
        raise ValueError(f"{name} is not a follow-up a seal may cause")
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)
              if f.name not in _ENVELOPE}
    return json.dumps({"type": name, **fields}, ensure_ascii=False, sort_keys=True)


def _decoded(decision: ev.FollowUpsDecided, index: int, text: str) -> ev.Event:
    fields = json.loads(text)
    if not isinstance(fields, dict):
        raise ValueError(f"follow-up {index} is not a JSON object")
    cls = FOLLOWED.get(str(fields.pop("type", "")))
    if cls is None or _ENVELOPE & fields.keys():
        raise ValueError(f"follow-up {index} is not one a seal may cause")
    if any(v is not None and not isinstance(v, str) for v in fields.values()):
        raise ValueError(f"follow-up {index} has a value that is not text")
    try:
        return cls(event_id=derived_id(decision, f"follow-up/{index}"),
                   occurred_at=decision.occurred_at, actor=decision.actor,
                   correlation_id=decision.correlation_id, **fields)
    except TypeError as wrong:
        raise ValueError(f"follow-up {index} does not fit {cls.__name__}: {wrong}") from None
