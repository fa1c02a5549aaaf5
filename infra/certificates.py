"""The signer's certificate of an XML signature, checked with ``cryptography``: its
validity period and the chain from it, through the CA certificates the document carries
(``KeyInfo/X509Data``), to a root the hub trusts (``TRUC_SIGNING_ROOTS_FILE``, a PEM
bundle). Each link's signature is verified (``verify_directly_issued_by``); each CA on
the way must be a CA (``basicConstraints``) valid at the time of sealing. What it finds
goes to the pure rules as a ``hub.edxml.certificates.Certificate``.

Revocation: against the CRLs the operator keeps in ``TRUC_SIGNING_CRLS_FILE`` (PEM), each
taken only if its issuer's key, on the verified chain, signed it. The hub fetches no CRL
and asks no OCSP responder: a certificate no CRL there covers is not refused.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from hub.edxml.certificates import Certificate

MAX_DEPTH = 8
"""Longest chain followed from the signer's certificate (intermediates included)."""


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def load_roots(path: Path | None) -> tuple[x509.Certificate, ...]:
    """The roots in a PEM bundle, read again when the file changes; none without one."""
    if path is None:
        return ()
    return _roots(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _roots(path: Path, _mtime: int) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificates(path.read_bytes()))


def load_crls(path: Path | None) -> tuple[x509.CertificateRevocationList, ...]:
    """The CRLs in a PEM file, read again when the file changes; none without one."""
    if path is None:
        return ()
    return _crls(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _crls(path: Path, _mtime: int) -> tuple[x509.CertificateRevocationList, ...]:
    marker = b"-----BEGIN X509 CRL-----"
    pieces = path.read_bytes().split(marker)[1:]
    return tuple(x509.load_pem_x509_crl(marker + piece) for piece in pieces)


def assess(leaf: x509.Certificate, carried: Sequence[x509.Certificate],
           roots: Sequence[x509.Certificate], at: datetime,
           crls: Sequence[x509.CertificateRevocationList] = ()) -> Certificate:
    """The signer's certificate ``leaf``, with the chain found from it up to a root in
    ``roots`` through ``carried`` (the document's other certificates) at ``at``, and
    whether a CRL of ``crls`` revokes a certificate on it."""
    issuers, problem = _chain(leaf, list(carried), list(roots), at)
    return Certificate(fingerprint(leaf), leaf.subject.rfc4514_string(),
                       leaf.not_valid_before_utc, leaf.not_valid_after_utc,
                       tuple(fingerprint(c) for c in issuers), problem if roots else "",
                       revoked=_revoked([leaf, *issuers], crls, at))


def _revoked(path: list[x509.Certificate], crls: Sequence[x509.CertificateRevocationList],
             at: datetime) -> str:
    """Why a certificate on the verified ``path`` (each followed by its issuer) is revoked
    at ``at`` by a CRL its issuer signed; empty when none is."""
    for cert, issuer in itertools.pairwise(path):
        for crl in crls:
            if crl.issuer != issuer.subject or not _signed_by(crl, issuer):
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None and entry.revocation_date_utc <= at:
                return (f"{cert.subject.rfc4514_string()} (serial {cert.serial_number}) "
                        f"revoked on {entry.revocation_date_utc.isoformat()} by "
                        f"{issuer.subject.rfc4514_string()}'s CRL")
    return ""


def _signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False


def _chain(leaf: x509.Certificate, carried: list[x509.Certificate],
           roots: list[x509.Certificate], at: datetime) -> tuple[list[x509.Certificate], str]:
    """The verified issuers from ``leaf`` up, and why they stop short of a root ("" when
    they reach one)."""
    trusted = {fingerprint(r) for r in roots}
    path: list[x509.Certificate] = []
    current = leaf
    if fingerprint(leaf) in trusted:
        return path, ""
    for _ in range(MAX_DEPTH):
        issuer = _issuer(current, [*roots, *carried], path)
        if issuer is None:
            return path, (f"no certificate the hub trusts or the document carries issued "
                          f"{current.subject.rfc4514_string()} "
                          f"(issuer {current.issuer.rfc4514_string()})")
        wrong = _not_a_valid_ca(issuer, at)
        if wrong:
            return path, wrong
        path.append(issuer)
        if fingerprint(issuer) in trusted:
            return path, ""
        current = issuer
    return path, f"longer than {MAX_DEPTH} certificates"


def _issuer(cert: x509.Certificate, candidates: list[x509.Certificate],
            used: list[x509.Certificate]) -> x509.Certificate | None:
    """The first candidate whose key signed ``cert`` (roots first), never ``cert`` itself
    nor one already on the path."""
    for candidate in candidates:
        if candidate == cert or candidate in used or candidate.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


def _not_a_valid_ca(cert: x509.Certificate, at: datetime) -> str:
    name = cert.subject.rfc4514_string()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return f"{name} issued it but is not a CA certificate"
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return (f"the CA certificate {name} is not valid at the seal (valid "
                f"{cert.not_valid_before_utc.isoformat()} to "
                f"{cert.not_valid_after_utc.isoformat()})")
    return ""
