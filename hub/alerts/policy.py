"""An agency's alert policy: whom to tell and when; set by an operator, audited like every
registry action, folded into the ``Registry`` of every node."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from hub import bounds
from hub import events as ev
from hub.errors import InvalidRequest, NotFound

MAILTO = "mailto:"
MAX_CONTACTS = 10
MAX_AFTER_SECONDS = 366 * 24 * 3600
_MAIL = re.compile(r"^[^@\s<>,;:\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{1,63}$")


@dataclass(frozen=True)
class AlertPolicy:
    agency_id: str
    emails: tuple[str, ...]
    webhooks: tuple[str, ...]
    unfetched_after: int | None
    expired_after: int | None
    offline_after: int | None
    set_at: datetime

    @property
    def contacts(self) -> tuple[str, ...]:
        """As alerts name them: ``mailto:`` addresses, then webhook URLs."""
        return (*(MAILTO + m for m in self.emails), *self.webhooks)

    @property
    def active(self) -> bool:
        return bool(self.contacts) and any(
            s is not None for s in (self.unfetched_after, self.expired_after,
                                    self.offline_after))

    @classmethod
    def of(cls, e: ev.AlertPolicySet) -> AlertPolicy:
        return cls(e.agency_id, tuple(e.emails), tuple(e.webhooks), e.unfetched_after_seconds,
                   e.expired_after_seconds, e.offline_after_seconds, e.occurred_at)


def check_email(address: str) -> str:
    address = bounds.check_text(address, "emails", 320, code="invalid_alert_contact")
    if not _MAIL.match(address):
        raise InvalidRequest(f"not a mail address: {address!r}", code="invalid_alert_contact",
                             field="emails")
    return address


def check_after(seconds: int | None, field: str) -> int | None:
    """A threshold in whole seconds, 0 to a year; None: this alert is off."""
    if seconds is None:
        return None
    return bounds.check_int(seconds, field, 0, MAX_AFTER_SECONDS, code="invalid_alert_policy")


def unknown_agency(code: str) -> NotFound:
    return NotFound(f"no agency with code {code}", code="unknown_agency")
