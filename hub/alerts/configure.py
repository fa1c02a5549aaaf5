"""The registry command that sets an agency's alert policy (pure: returns the event)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub import bounds
from hub import events as ev
from hub.alerts.policy import MAX_CONTACTS, check_after, check_email, unknown_agency
from hub.errors import InvalidRequest
from hub.registry.decisions import Context
from hub.registry.model import Registry
from hub.registry.webhook_targets import TargetPolicy


@dataclass(frozen=True)
class PolicyRequest:
    """What an operator asks for; thresholds in seconds, None: that alert is off."""

    emails: list[str] = field(default_factory=list)
    webhooks: list[str] = field(default_factory=list)
    unfetched_after_seconds: int | None = None
    expired_after_seconds: int | None = None
    offline_after_seconds: int | None = None


def set_policy(reg: Registry, ctx: Context, agency_code: str, request: PolicyRequest,
               targets: TargetPolicy) -> ev.AlertPolicySet:
    """Replaces the agency's policy. Webhook URLs pass the same target rule as apps'
    webhooks (https to public addresses unless the operator allowed more); an empty
    request turns the agency's alerts off."""
    agency = reg.agency(agency_code)
    if agency is None:
        raise unknown_agency(agency_code)
    if len(request.emails) > MAX_CONTACTS or len(request.webhooks) > MAX_CONTACTS:
        raise InvalidRequest(f"at most {MAX_CONTACTS} mail addresses and {MAX_CONTACTS} "
                             "webhooks", code="invalid_alert_contact")
    emails = list(dict.fromkeys(check_email(m) for m in request.emails))
    webhooks = []
    for given in dict.fromkeys(request.webhooks):
        url = bounds.check_text(given, "webhooks", bounds.URL, code="invalid_alert_contact")
        targets.check_url(url)
        webhooks.append(url)
    return ev.AlertPolicySet(
        **ctx.envelope(), agency_id=agency.agency_id, agency_code=agency.code,
        emails=emails, webhooks=webhooks,
        unfetched_after_seconds=check_after(request.unfetched_after_seconds,
                                            "unfetched_after_seconds"),
        expired_after_seconds=check_after(request.expired_after_seconds,
                                          "expired_after_seconds"),
        offline_after_seconds=check_after(request.offline_after_seconds,
                                          "offline_after_seconds"))
