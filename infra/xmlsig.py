"""XML signatures (XMLDSig) on edXML documents, verified with signxml (issue 14).

Only bytes the hub's own reader already accepted get here (no DTD, no entities, bounded:
``hub.edxml.reader``), and lxml is still told to resolve nothing and fetch nothing. The
signature is checked against the certificate it carries (``KeyInfo/X509Data``): that
proves the document is unchanged since that key signed it; whether the certificate
belongs to the agency is the agency's trust list's business (``hub.registry.signing``):
``check`` gives the certificate's fingerprint for it. ``inspect`` also checks the
certificate's validity period and its chain to the hub's roots (``infra.certificates``).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from lxml import etree
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.verifier import SignatureConfiguration, XMLVerifier

from hub.edxml.certificates import Certificate
from infra import certificates

MAX_VERIFIED_BYTES: Final = 20 * 2**20
"""Verifying canonicalises the whole document in memory: larger ones are not verified."""
_DS: Final = "{http://www.w3.org/2000/09/xmldsig#}"

VALID, INVALID, UNVERIFIED = "valid", "invalid", "unverified"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False)


def verify(data: bytes) -> tuple[str, str]:
    """(``valid`` | ``invalid``, why) for a signed document's bytes."""
    result, why, _ = check(data)
    return result, why


def check(data: bytes) -> tuple[str, str, str]:
    """(``valid`` | ``invalid``, why, the SHA-256 of the signer's certificate (DER, hex)
    when the signature is valid): the fingerprint an agency's trust list names."""
    result, why, cert = inspect(data, datetime.now(UTC))
    return result, why, cert.sha256 if cert else ""


def inspect(data: bytes, at: datetime, roots: Sequence[x509.Certificate] = (),
            crls: Sequence[x509.CertificateRevocationList] = ()
            ) -> tuple[str, str, Certificate | None]:
    """(``valid`` | ``invalid``, why, the signer's certificate when the signature is
    valid: its validity period, its chain to ``roots`` and its revocation by ``crls`` at
    ``at``, the seal's time, ``infra.certificates``). The first ``X509Certificate`` is
    the signer's; the others are the CA certificates the signer sent along to chain it."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        return INVALID, f"not readable for verification: {exc}", None
    found = root.findall(f".//{_DS}Signature/{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate")
    texts = ["".join((c.text or "").split()) for c in found]
    if not texts or not texts[0]:
        return INVALID, "the signature carries no X509Certificate", None
    try:
        leaf = x509.load_der_x509_certificate(base64.b64decode(texts[0], validate=True))
        # signxml would also judge the certificate's validity, at the wall clock, as an
        # invalid signature: asked at a time inside it, it checks only the signature, and
        # the validity at the seal is the hub's rule with its own reason.
        XMLVerifier().verify(root, x509_cert=leaf, parser=_parser(), expect_config=(
            SignatureConfiguration(verification_time=leaf.not_valid_before_utc)))
    except (InvalidSignature, InvalidInput, ValueError) as exc:
        return INVALID, str(exc)[:300], None
    cert = certificates.assess(leaf, _loaded(texts[1:]), roots, at, crls)
    return VALID, ("the signature matches the certificate it carries "
                   f"(SHA-256 {cert.sha256})"), cert


def _loaded(texts: list[str]) -> list[x509.Certificate]:
    """The other certificates carried; one that does not read is left out (it chains
    nothing)."""
    found = []
    for text in texts:
        try:
            found.append(x509.load_der_x509_certificate(base64.b64decode(text, validate=True)))
        except ValueError:
            continue
    return found
