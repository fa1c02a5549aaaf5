"""XML signatures (XMLDSig) on edXML documents, verified with signxml (issue 14).

Only bytes the hub's own reader already accepted get here (no DTD, no entities, bounded:
``hub.edxml.reader``), and lxml is still told to resolve nothing and fetch nothing. The
signature is checked against the certificate it carries (``KeyInfo/X509Data``): that
proves the document is unchanged since that key signed it; whether the certificate
belongs to the agency is the agency's trust list's business (``hub.registry.signing``):
``check`` gives the certificate's fingerprint for it.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

from lxml import etree
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.verifier import XMLVerifier

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
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        return INVALID, f"not readable for verification: {exc}", ""
    cert = root.find(f".//{_DS}Signature/{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate")
    if cert is None or not (cert.text or "").strip():
        return INVALID, "the signature carries no X509Certificate", ""
    text = "".join((cert.text or "").split())
    pem = f"-----BEGIN CERTIFICATE-----\n{text}\n-----END CERTIFICATE-----\n"
    try:
        XMLVerifier().verify(root, x509_cert=pem, parser=_parser())
        der = base64.b64decode(text, validate=True)
    except (InvalidSignature, InvalidInput, ValueError) as exc:
        return INVALID, str(exc)[:300], ""
    fingerprint = hashlib.sha256(der).hexdigest()
    return VALID, f"the signature matches the certificate it carries (SHA-256 {fingerprint})", \
        fingerprint
