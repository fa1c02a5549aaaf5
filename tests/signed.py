"""Signed edXML for tests: a self-signed certificate and signxml's enveloped signature,
as a QLVB's signing module would make one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.signer import XMLSigner


@dataclass(frozen=True)
class Signer:
    """A signing key and its self-signed certificate; ``sha256``: the certificate's
    fingerprint (of its DER), as an agency's trust list names it."""

    key_pem: bytes
    cert_pem: str
    sha256: str


def new_signer(valid: tuple[timedelta, timedelta] = (timedelta(days=-1), timedelta(days=30))
               ) -> Signer:
    """``valid``: the certificate's validity period, from now (an expired one: both
    negative)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sở Thông tin và Truyền thông")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + valid[0]).not_valid_after(now + valid[1])
            .sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    der = cert.public_bytes(serialization.Encoding.DER)
    return Signer(pem_key, cert.public_bytes(serialization.Encoding.PEM).decode(),
                  hashlib.sha256(der).hexdigest())


def signed(data: bytes, signer: Signer | None = None) -> bytes:
    """``data`` (an XML document) with an enveloped RSA-SHA256 signature and the signer's
    certificate in its KeyInfo (a new signer unless one is given)."""
    signer = signer or new_signer()
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    signed_root = XMLSigner().sign(root, key=signer.key_pem, cert=[signer.cert_pem])
    return bytes(etree.tostring(signed_root, xml_declaration=True, encoding="UTF-8"))
