"""Signing policy per agency (issue 14): an agency's registration may require that the
edXML documents it sends carry a valid XML signature. An operator sets it
(``SigningPolicySet``, audited like every registry action); the analysis on seal
(``hub.edxml.analysis``) refuses a document from such an agency that is unsigned, or
whose signature is invalid or could not be verified.
"""

from __future__ import annotations

from hub import events as ev
from hub.errors import InvalidRequest, NotFound
from hub.registry.codes import AgencyCode, InvalidAgencyCode
from hub.registry.decisions import Context
from hub.registry.model import Agency, Registry

REQUIRED, OPTIONAL = "required", "optional"
POLICIES = (REQUIRED, OPTIONAL)


def set_policy(reg: Registry, ctx: Context, code: str,
               signing: str) -> tuple[Agency, ev.SigningPolicySet | None]:
    """The agency and the event that sets its policy; no event when it already is so
    (setting it twice records it once)."""
    if signing not in POLICIES:
        raise InvalidRequest(f"signing must be one of {', '.join(POLICIES)}",
                             code="invalid_signing_policy")
    try:
        agency = reg.agency(str(AgencyCode.parse(code)))
    except InvalidAgencyCode:
        agency = None
    if agency is None:
        raise NotFound(f"no agency with code {code}", code="unknown_agency")
    if agency.signing_required == (signing == REQUIRED):
        return agency, None
    return agency, ev.SigningPolicySet(**ctx.envelope(), agency_id=agency.agency_id,
                                       code=agency.code, signing=signing)


def policy(agency: Agency) -> str:
    return REQUIRED if agency.signing_required else OPTIONAL
