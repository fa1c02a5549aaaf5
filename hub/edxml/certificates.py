"""The signer's certificate of an edXML document (issue 14): its validity period at the
time of sealing, and its chain to a root the hub trusts.

The cryptography (reading the certificates, checking each link's signature) is the
adapter's (``infra/certificates.py``); what it found arrives here as a ``Certificate``,
and the rules — which refuse a document only when its agency must sign
(``hub.edxml.analysis``) — are pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.edxml.rules import Problem


@dataclass(frozen=True)
class Certificate:
    """What the verification found of the certificate a valid signature was made with."""

    sha256: str
    """Its fingerprint (SHA-256 of the DER, hex), as a trust list names it."""
    subject: str
    not_before: datetime
    not_after: datetime
    issuers: tuple[str, ...] = ()
    """The fingerprints of the CA certificates it chains through, each link's signature
    verified, nearest first (carried in the document's ``X509Data`` or among the hub's
    roots); the last is a root the hub trusts when ``chain_problem`` is empty."""
    chain_problem: str = ""
    """Why it does not chain to a root the hub trusts; empty when it does, or when the hub
    names no roots (chains are then not checked)."""
    revoked: str = ""
    """Why it (or a CA on its chain) is revoked by a CRL the hub holds; empty if not."""

    def view(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "subject": self.subject,
                "not_before": self.not_before.isoformat(),
                "not_after": self.not_after.isoformat(), "issuers": list(self.issuers),
                "chain_problem": self.chain_problem, "revoked": self.revoked}


def problems(cert: Certificate, at: datetime) -> list[Problem]:
    """What is wrong with the certificate at ``at`` (the seal): outside its validity
    period, revoked, or not chained to a trusted root."""
    found = []
    if at < cert.not_before:
        found.append(Problem("certificate_not_yet_valid", "Signature",
                             f"the signer's certificate (SHA-256 {cert.sha256}) is valid "
                             f"only from {cert.not_before.isoformat()}"))
    elif at > cert.not_after:
        found.append(Problem("certificate_expired", "Signature",
                             f"the signer's certificate (SHA-256 {cert.sha256}) expired "
                             f"on {cert.not_after.isoformat()}"))
    if cert.revoked:
        found.append(Problem("certificate_revoked", "Signature",
                             f"the signer's certificate (SHA-256 {cert.sha256}) is revoked: "
                             f"{cert.revoked}"))
    if cert.chain_problem:
        found.append(Problem("certificate_untrusted_chain", "Signature",
                             f"the signer's certificate (SHA-256 {cert.sha256}) does not "
                             f"chain to a root the hub trusts: {cert.chain_problem}"))
    return found


def named(cert: Certificate) -> tuple[str, ...]:
    """The fingerprints a trust list may name to accept this certificate: its own, or a
    CA's it chains through (each link verified)."""
    return (cert.sha256, *cert.issuers)
