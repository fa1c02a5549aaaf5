"""`truc admin alerts`: an agency's alert contacts and policy, and the alerts raised —
locally on the hub's data, or on a remote hub with an operator key (as every admin
command)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from api.admin_cli import Actor, Json, _do, _show
from api.routes.alerts import agency_id_of, alerts_seen, policy_view
from api.runtime import Runtime
from hub.alerts.configure import PolicyRequest
from hub.errors import InvalidRequest
from hub.registry.decisions import Context
from hub.registry.webhook_targets import parse_policy

alerts_app = typer.Typer(help="Alerts to people: contacts, policy, alerts raised.",
                         no_args_is_help=True)
Hours = Annotated[float | None, typer.Option(help="Hours (decimals allowed); unset: off.")]


def seconds(hours: float | None, name: str) -> int | None:
    if hours is None:
        return None
    if not 0 <= hours <= 366 * 24:
        raise InvalidRequest(f"--{name} must be between 0 and {366 * 24} hours",
                             code="invalid_alert_policy")
    return round(hours * 3600)


@alerts_app.command("set")
def alerts_set(
        code: str,
        email: Annotated[list[str] | None, typer.Option(help="A mail address (repeat).")] = None,
        webhook: Annotated[list[str] | None, typer.Option(help="A URL to POST (repeat).")] = None,
        unfetched_hours: Hours = None, expired_hours: Hours = None,
        offline_hours: Hours = None, as_json: Json = False, actor: Actor = None) -> None:
    """Replace the agency's contacts and policy: alert when a delivery to it waits
    unfetched --unfetched-hours, --expired-hours after a delivery from or to it expired
    (0: at once), when it stays offline --offline-hours. Nothing given: alerts off."""
    request = PolicyRequest(
        emails=email or [], webhooks=webhook or [],
        unfetched_after_seconds=seconds(unfetched_hours, "unfetched-hours"),
        expired_after_seconds=seconds(expired_hours, "expired-hours"),
        offline_after_seconds=seconds(offline_hours, "offline-hours"))

    async def work(rt: Runtime, ctx: Context) -> dict[str, Any]:
        policy = await rt.registry.set_alerts(ctx, code, request,
                                              parse_policy(rt.settings.webhook_allow_hosts))
        return policy_view(rt, policy.agency_id, policy)

    _show(_do(work, actor, "PUT", f"/v1/ops/agencies/{code}/alerts", asdict(request)), as_json,
          "alert policy")


@alerts_app.command("show")
def alerts_show(code: str, as_json: Json = False) -> None:
    """The agency's contacts and policy."""
    async def work(rt: Runtime, _: Context) -> dict[str, Any]:
        agency_id = agency_id_of(rt, lambda _code: True, code)
        return policy_view(rt, agency_id, rt.view.registry.alerts.get(agency_id))

    found = _do(work, None, "GET", f"/v1/ops/agencies/{code}/alerts")
    if not as_json:
        found = {**found, "emails": " ".join(found["emails"]),
                 "webhooks": " ".join(found["webhooks"])}
    _show(found, as_json, "alert policy")


@alerts_app.command("list")
def alerts_list(agency: Annotated[str | None, typer.Option(help="One agency's code.")] = None,
                as_json: Json = False) -> None:
    """Alerts raised, newest first, with their state (sent, failed, gave_up, raised)."""
    async def work(rt: Runtime, _: Context) -> list[dict[str, Any]]:
        return await alerts_seen(rt, lambda _code: True, agency)

    path = "/v1/ops/alerts" + (f"?agency={agency}" if agency else "")
    found = _do(work, None, "GET", path)
    if not as_json and not found:
        typer.echo("no alerts raised")
        return
    if not as_json:
        found = [{"raised_at": a["raised_at"], "agency": a["agency_code"], "kind": a["kind"],
                  "state": a["state"], "package": a["package_id"] or "",
                  "contacts": " ".join(f"{c['contact']}={c['outcome'] or '-'}"
                                       for c in a["contacts"])} for a in found]
    _show(found, as_json, "alerts")


def register(admin: typer.Typer) -> None:
    admin.add_typer(alerts_app, name="alerts")
