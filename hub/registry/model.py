"""The registry as state: agencies, apps, keys and operators, folded from events.

Every API node keeps one ``Registry`` in memory, fed by the registry topic, so that
authenticating a request never waits on storage and a revocation reaches every node as
fast as the log carries it. The fold is deterministic: the same events in the same order
give the same registry on every node. Events of one principal share a partition key (an
agency's apps by agency, a principal's keys by principal), so each handler can rely on
what came before it for the same key, and tolerates a reference it does not know yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from hub import events as ev
from hub.alerts.policy import AlertPolicy
from hub.text import fold
from hub.zones.model import Zone


class AppState(StrEnum):
    REGISTERED = "registered"
    APPROVED = "approved"
    REVOKED = "revoked"


class Operation(StrEnum):
    SEND = "send"
    RECEIVE = "receive"
    REPORT_STATUS = "report_status"
    READ_STATISTICS = "read_statistics"


class Role(StrEnum):
    ADMIN = "admin"
    AUDITOR = "auditor"
    AGENCY_ADMIN = "agency-admin"


@dataclass(frozen=True)
class Grants:
    """What an approved app may do; empty destination or data-type sets mean "any"."""

    operations: frozenset[str]
    destinations: frozenset[str] = frozenset()
    data_types: frozenset[str] = frozenset()

    def allows(self, operation: Operation) -> bool:
        return operation.value in self.operations

    def allows_destination(self, code: str) -> bool:
        return not self.destinations or code in self.destinations

    def allows_data_type(self, data_type: str) -> bool:
        return not self.data_types or data_type in self.data_types


@dataclass(frozen=True)
class Agency:
    agency_id: str
    code: str
    name: str
    parent_code: str | None
    account: str
    registered_at: datetime
    former_codes: tuple[str, ...] = ()
    """Codes this agency held before (oldest first): they still resolve to it."""
    merged_into: str | None = None
    """The id of the agency this one merged into; it then resolves to that one."""
    national_id: str | None = None
    mail: str | None = None
    signing_required: bool = False
    """Its edXML documents must carry a valid XML signature (``SigningPolicySet``)."""
    trusted_certificates: tuple[str, ...] = ()
    """When signing is required: the certificates (SHA-256 of the DER) it signs with;
    empty, any certificate."""

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code that names this agency: its own and its former ones."""
        return (self.code, *self.former_codes)


@dataclass(frozen=True)
class App:
    app_id: str
    agency_id: str
    name: str
    state: AppState
    registered_at: datetime
    rsa_public_key_pem: str | None = None
    grants: Grants | None = None
    webhook_url: str | None = None
    webhook_key_id: str | None = None

    @property
    def hooked(self) -> bool:
        """Whether the hub posts this app's notices to a webhook: one is set, with its
        signing key, and the app is approved (a revoked app is told nothing more)."""
        return bool(self.webhook_url and self.webhook_key_id) and self.state is AppState.APPROVED


@dataclass(frozen=True)
class Key:
    key_id: str
    principal_id: str
    access_key: str
    algorithm: str
    valid_from: datetime
    valid_until: datetime | None = None
    public_key_pem: str | None = None
    revoked: bool = False

    def valid_at(self, now: datetime) -> bool:
        return not self.revoked and self.valid_from <= now and (
            self.valid_until is None or now < self.valid_until)


@dataclass(frozen=True)
class Operator:
    operator_id: str
    name: str
    role: Role
    agency_code: str | None
    registered_at: datetime

    def sees(self, agency_code: str | None) -> bool:
        """An agency-admin sees its own agency's data only; admins and auditors see all.
        The one rule every operator endpoint applies (registry, presence, reports)."""
        return self.role is not Role.AGENCY_ADMIN or self.agency_code == agency_code


@dataclass
class Registry:
    agencies: dict[str, Agency] = field(default_factory=dict)
    agency_by_code: dict[str, str] = field(default_factory=dict)
    apps: dict[str, App] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    key_by_access: dict[str, str] = field(default_factory=dict)
    operators: dict[str, Operator] = field(default_factory=dict)
    pending_merges: dict[str, str] = field(default_factory=dict)
    """Merged agencies whose registration this node has not folded yet -> successor id."""
    children: dict[str, set[str]] = field(default_factory=dict)
    """Parent code -> ids of the live agencies whose code derives it (the hierarchy)."""
    merged_from: dict[str, set[str]] = field(default_factory=dict)
    """Successor id -> ids of the agencies merged into it directly."""
    search_text: dict[str, str] = field(default_factory=dict)
    """Agency id -> its codes and name folded for accent-insensitive search."""
    alerts: dict[str, AlertPolicy] = field(default_factory=dict)
    """Agency id -> its alert policy (``hub.alerts``), as last set."""
    search_order: list[tuple[str, str, str]] | None = None
    """(code, agency id, search text) of the live agencies by code, made on the first
    search after a change (``hub.registry.search``), dropped by the next change."""
    zones: dict[str, Zone] = field(default_factory=dict)
    """Peer hubs by zone name, with the code patterns each serves (``hub.zones``)."""

    def index_agency(self, agency_id: str) -> None:
        """(Re)indexes a live agency for the directory; a merged one is left out."""
        self.unindex_agency(agency_id)
        agency = self.agencies[agency_id]
        if agency.merged_into is not None:
            return
        if agency.parent_code:
            self.children.setdefault(agency.parent_code, set()).add(agency_id)
        self.search_text[agency_id] = fold(" ".join((*agency.codes, agency.name)))

    def unindex_agency(self, agency_id: str) -> None:
        self.search_order = None
        self.search_text.pop(agency_id, None)
        agency = self.agencies.get(agency_id)
        if agency is not None and agency.parent_code:
            self.children.get(agency.parent_code, set()).discard(agency_id)

    def apply(self, event: ev.Event) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def agency(self, code: str) -> Agency | None:
        """The agency a code names *today*, old or new: a closed code resolves to its
        successor (``AgencySucceeded``), through any number of successions."""
        return self.successor(self.holder(code))

    def holder(self, code: str) -> Agency | None:
        """The agency registered under ``code``, without following successions."""
        agency_id = self.agency_by_code.get(code)
        return self.agencies.get(agency_id) if agency_id else None

    def successor(self, agency: Agency | None) -> Agency | None:
        for _ in range(MAX_SUCCESSIONS):
            if agency is None or agency.merged_into is None:
                return agency
            agency = self.agencies.get(agency.merged_into)
        return agency

    def predecessors(self, agency_id: str) -> list[Agency]:
        """Agencies merged into this one (directly or not): its history is theirs too."""
        found: list[Agency] = []
        seen, frontier = {agency_id}, [agency_id]
        while frontier:
            step = [self.agencies[i] for f in frontier for i in sorted(self.merged_from.get(f, ()))
                    if i not in seen and i in self.agencies]
            seen.update(a.agency_id for a in step)
            found += step
            frontier = [a.agency_id for a in step]
        return found

    def key(self, access_key: str) -> Key | None:
        key_id = self.key_by_access.get(access_key)
        return self.keys.get(key_id) if key_id else None

    def keys_of(self, principal_id: str) -> list[Key]:
        return [k for k in self.keys.values() if k.principal_id == principal_id]

    def apps_of(self, agency_id: str) -> list[App]:
        return [a for a in self.apps.values() if a.agency_id == agency_id]


MAX_SUCCESSIONS = 32
"""A chain of successions longer than this is cut (a cycle recorded by mistake)."""


def _agency(reg: Registry, e: ev.AgencyRegistered) -> None:
    merged = reg.pending_merges.pop(e.agency_id, None)
    if merged is not None:
        reg.merged_from.setdefault(merged, set()).add(e.agency_id)
    reg.agencies[e.agency_id] = Agency(e.agency_id, e.code, e.name, e.parent_code, e.account,
                                       e.occurred_at, merged_into=merged,
                                       national_id=e.national_id, mail=e.mail)
    reg.agency_by_code.setdefault(e.code, e.agency_id)
    reg.index_agency(e.agency_id)


def _succeeded(reg: Registry, e: ev.AgencySucceeded) -> None:
    """The successor takes the new code and keeps every old one; merged agencies point to
    it. An old agency not seen yet (another partition) is marked when it arrives."""
    before = reg.agencies.get(e.agency_id)
    former = [] if before is None else list(before.codes)
    carried = list(e.old_codes)
    """Every code that reached a merged agency reaches the successor: its former codes
    too (A merged into B, then B into C: A's code is C's)."""
    for old_id in e.old_agency_ids:
        old = reg.agencies.get(old_id)
        if old_id == e.agency_id:
            continue
        if old is None:
            reg.pending_merges[old_id] = e.agency_id
            continue
        carried += old.codes
        reg.agencies[old_id] = replace(old, merged_into=e.agency_id)
        reg.merged_from.setdefault(e.agency_id, set()).add(old_id)
        reg.index_agency(old_id)
    former += [c for c in dict.fromkeys(carried) if c not in former]
    successor = Agency(e.agency_id, e.code, e.name, e.parent_code, e.account,
                       before.registered_at if before else e.occurred_at,
                       former_codes=tuple(c for c in former if c != e.code),
                       national_id=before.national_id if before else None,
                       mail=before.mail if before else None,
                       signing_required=before.signing_required if before else False,
                       trusted_certificates=before.trusted_certificates if before else ())
    if before is not None:
        reg.unindex_agency(e.agency_id)
    reg.agencies[e.agency_id] = successor
    for code in successor.codes:
        reg.agency_by_code[code] = e.agency_id
    reg.index_agency(e.agency_id)


def _renamed(reg: Registry, e: ev.AgencyRenamed) -> None:
    if e.agency_id in reg.agencies:
        reg.agencies[e.agency_id] = replace(reg.agencies[e.agency_id], name=e.name)
        reg.index_agency(e.agency_id)


def _signing(reg: Registry, e: ev.SigningPolicySet) -> None:
    if e.agency_id in reg.agencies:
        reg.agencies[e.agency_id] = replace(reg.agencies[e.agency_id],
                                            signing_required=e.signing == "required",
                                            trusted_certificates=tuple(e.certificates))


def _removed(reg: Registry, e: ev.AgencyRemoved) -> None:
    gone = reg.agencies.get(e.agency_id)
    if gone is None:
        return
    reg.unindex_agency(e.agency_id)
    del reg.agencies[e.agency_id]
    for code in gone.codes:
        if reg.agency_by_code.get(code) == e.agency_id:
            del reg.agency_by_code[code]


def _app(reg: Registry, e: ev.AppRegistered) -> None:
    reg.apps[e.app_id] = App(e.app_id, e.agency_id, e.name, AppState.REGISTERED, e.occurred_at,
                             e.rsa_public_key_pem)


def _approved(reg: Registry, e: ev.AppApproved) -> None:
    grants = Grants(frozenset(e.operations), frozenset(e.allowed_destinations),
                    frozenset(e.allowed_data_types))
    if e.app_id in reg.apps:
        reg.apps[e.app_id] = replace(reg.apps[e.app_id], state=AppState.APPROVED, grants=grants)


def _revoked(reg: Registry, e: ev.AppRevoked) -> None:
    if e.app_id in reg.apps:
        reg.apps[e.app_id] = replace(reg.apps[e.app_id], state=AppState.REVOKED)


def _key(reg: Registry, e: ev.KeyIssued) -> None:
    reg.keys[e.key_id] = Key(e.key_id, e.app_id, e.access_key, e.algorithm, e.valid_from,
                             e.valid_until, e.public_key_pem)
    reg.key_by_access[e.access_key] = e.key_id


def _key_retired(reg: Registry, e: ev.KeyRetired) -> None:
    if e.key_id in reg.keys:
        reg.keys[e.key_id] = replace(reg.keys[e.key_id], valid_until=e.valid_until)


def _key_revoked(reg: Registry, e: ev.KeyRevoked) -> None:
    if e.key_id in reg.keys:
        reg.keys[e.key_id] = replace(reg.keys[e.key_id], revoked=True)


def _webhook(reg: Registry, e: ev.WebhookConfigured) -> None:
    if e.app_id in reg.apps:
        reg.apps[e.app_id] = replace(reg.apps[e.app_id], webhook_url=e.url or None,
                                     webhook_key_id=e.key_id or None)


def _alerts(reg: Registry, e: ev.AlertPolicySet) -> None:
    reg.alerts[e.agency_id] = AlertPolicy.of(e)


def _operator(reg: Registry, e: ev.OperatorRegistered) -> None:
    reg.operators[e.operator_id] = Operator(e.operator_id, e.name, Role(e.role), e.agency_code,
                                            e.occurred_at)


def _zone(reg: Registry, e: ev.ZoneConfigured) -> None:
    reg.zones[e.zone] = Zone(e.zone, e.url, e.access_key, e.secret_id, frozenset(e.codes),
                             frozenset(e.branches), frozenset(e.provinces), e.occurred_at,
                             e.protocol, e.local_key)


def _zone_removed(reg: Registry, e: ev.ZoneRemoved) -> None:
    reg.zones.pop(e.zone, None)


_HANDLERS: dict[type[ev.Event], Callable[[Registry, Any], None]] = {
    ev.AgencyRegistered: _agency, ev.AppRegistered: _app, ev.AppApproved: _approved,
    ev.AppRevoked: _revoked, ev.KeyIssued: _key, ev.KeyRetired: _key_retired,
    ev.KeyRevoked: _key_revoked, ev.OperatorRegistered: _operator,
    ev.WebhookConfigured: _webhook, ev.AgencySucceeded: _succeeded,
    ev.AgencyRenamed: _renamed, ev.AgencyRemoved: _removed,
    ev.AlertPolicySet: _alerts,
    ev.ZoneConfigured: _zone, ev.ZoneRemoved: _zone_removed,
    ev.SigningPolicySet: _signing,
}
