"""Signing policy per agency (issue 14): an agency's registration may require that the
edXML documents it sends carry a valid XML signature. An operator sets it
(``SigningPolicySet``, audited like every registry action); the analysis on seal
(``hub.edxml.analysis``) refuses a document from such an agency that is unsigned, or
whose signature is invalid or could not be verified, or signed with a certificate its
trust list (if it has one) does not name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hub import events as ev
from hub.errors import InvalidRequest, NotFound
from hub.registry.codes import AgencyCode, InvalidAgencyCode
from hub.registry.decisions import Context
from hub.registry.model import Agency, Registry

REQUIRED, OPTIONAL = "required", "optional"
MAX_CERTIFICATES = 50
SHA256 = re.compile(r"[0-9a-f]{64}")
POLICIES = (REQUIRED, OPTIONAL)


def set_policy(reg: Registry, ctx: Context, code: str, signing: str,
               certificates: Sequence[str] = ()) -> tuple[Agency, ev.SigningPolicySet | None]:
    """The agency and the event that sets its policy; no event when it already is so
    (setting it twice records it once). ``certificates``: its trust list, with
    ``required`` only (SHA-256 fingerprints, hex)."""
    if signing not in POLICIES:
        raise InvalidRequest(f"signing must be one of {', '.join(POLICIES)}",
                             code="invalid_signing_policy")
    trusted = _fingerprints(certificates)
    if trusted and signing != REQUIRED:
        raise InvalidRequest("a trust list of certificates goes with signing required",
                             code="invalid_signing_policy")
    try:
        agency = reg.agency(str(AgencyCode.parse(code)))
    except InvalidAgencyCode:
        agency = None
    if agency is None:
        raise NotFound(f"no agency with code {code}", code="unknown_agency")
    if agency.signing_required == (signing == REQUIRED) and \
            agency.trusted_certificates == tuple(trusted):
        return agency, None
    return agency, ev.SigningPolicySet(**ctx.envelope(), agency_id=agency.agency_id,
                                       code=agency.code, signing=signing, certificates=trusted)


def _fingerprints(certificates: Sequence[str]) -> list[str]:
    """Each a SHA-256 in hex (any case, ``:`` separators allowed), lower-cased, once."""
    if len(certificates) > MAX_CERTIFICATES:
        raise InvalidRequest(f"a trust list has at most {MAX_CERTIFICATES} certificates",
                             code="invalid_signing_policy")
    found = [str(c).replace(":", "").strip().lower() for c in certificates]
    bad = [c for c, f in zip(certificates, found, strict=True) if not SHA256.fullmatch(f)]
    if bad:
        raise InvalidRequest(f"not a certificate's SHA-256 fingerprint: {str(bad[0])[:80]}",
                             code="invalid_signing_policy")
    return sorted(set(found))


def untrusted(agency: Agency, names: Sequence[str]) -> bool:
    """A valid signature by a certificate the agency's trust list does not name: neither
    the certificate's own fingerprint nor that of a CA it chains through (``names``, the
    certificate's first, ``hub.edxml.certificates.named``)."""
    trusted = agency.trusted_certificates
    return bool(trusted) and not any(name in trusted for name in names)


def policy(agency: Agency) -> str:
    return REQUIRED if agency.signing_required else OPTIONAL
