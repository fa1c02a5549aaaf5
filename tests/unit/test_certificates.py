"""The signer's certificate of an edXML document (issue 14): valid at the seal, and
chained to a root the hub trusts, each link verified; refused for it only when the
agency must sign. Certificates made here with ``cryptography``."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.signer import XMLSigner

from api.packages_service import Packages
from api.runtime import Runtime
from hub.edxml import certificates
from hub.edxml.analysis import analyse
from hub.edxml.builder import build
from hub.edxml.certificates import Certificate
from hub.edxml.parse import parse
from hub.registry import signing
from infra import xmlsig
from infra.certificates import assess, fingerprint, load_crls, load_roots
from infra.settings import Settings
from tests.unit.test_edxml import sample
from tests.unit.test_edxml_flows import sending
from tests.unit.test_follow_ups import edxml
from tests.unit.test_packages import CTX, DEST, SOURCE, world

AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def certificate(sha256: str, *issuers: str, not_before: datetime = AT - DAY,
                not_after: datetime = AT + DAY, chain_problem: str = "") -> Certificate:
    """A signer's certificate as the verification reports it (for the pure rules)."""
    return Certificate(sha256, "CN=Văn thư", not_before, not_after, issuers, chain_problem)


@dataclass(frozen=True)
class Issued:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def sha256(self) -> str:
        return fingerprint(self.cert)


def issue(name: str, by: Issued | None = None, *, ca: bool = False,
          not_before: datetime = AT - 30 * DAY, not_after: datetime = AT + 365 * DAY) -> Issued:
    """A certificate named ``name``, issued by ``by`` (self-signed without one)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer = by.cert.subject if by else subject
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(by.key if by else key, hashes.SHA256()))
    return Issued(key, cert)


@pytest.fixture(scope="module")
def pki() -> dict[str, Issued]:
    root = issue("Root CA Chính phủ", ca=True, not_before=AT - 3650 * DAY,
                 not_after=AT + 3650 * DAY)
    intermediate = issue("CA phục vụ các cơ quan nhà nước", root, ca=True)
    stranger = issue("CA lạ", ca=True)
    return {
        "root": root, "intermediate": intermediate, "stranger": stranger,
        "leaf": issue("Văn thư Sở TTTT", intermediate),
        "direct": issue("Văn thư Sở Tư pháp", root),
        "expired": issue("Văn thư cũ", intermediate, not_before=AT - 400 * DAY,
                         not_after=AT - DAY),
        "early": issue("Văn thư mới", intermediate, not_before=AT + DAY),
        "untrusted": issue("Văn thư lạ", stranger),
        "not_a_ca": issue("Không phải CA", root),
        "expired_ca": issue("CA hết hạn", root, ca=True, not_before=AT - 400 * DAY,
                            not_after=AT - DAY),
    }


# --- the pure rules --------------------------------------------------------------------------


def test_a_certificate_valid_at_the_seal_and_chained_has_no_problem() -> None:
    assert certificates.problems(certificate("aa" * 32, "bb" * 32), AT) == []
    assert certificates.named(certificate("aa" * 32, "bb" * 32)) == ("aa" * 32, "bb" * 32)


@pytest.mark.parametrize(("changes", "code"), [
    ({"not_after": AT - timedelta(seconds=1)}, "certificate_expired"),
    ({"not_before": AT + timedelta(seconds=1)}, "certificate_not_yet_valid"),
    ({"chain_problem": "no certificate issued CN=x"}, "certificate_untrusted_chain"),
])
def test_a_certificate_out_of_its_validity_or_chain_is_a_problem(
        changes: dict[str, object], code: str) -> None:
    (problem,) = certificates.problems(replace(certificate("aa" * 32), **changes), AT)
    assert (problem.code, problem.field) == (code, "Signature")
    assert "aa" * 32 in problem.detail


# --- chains, with real certificates -----------------------------------------------------------


def test_a_chain_through_a_carried_intermediate_reaches_the_root(pki: dict[str, Issued]) -> None:
    found = assess(pki["leaf"].cert, [pki["intermediate"].cert], [pki["root"].cert], AT)
    assert found.sha256 == pki["leaf"].sha256 and found.chain_problem == ""
    assert found.issuers == (pki["intermediate"].sha256, pki["root"].sha256)
    assert found.not_before == AT - 30 * DAY and "Văn thư Sở TTTT" in found.subject
    direct = assess(pki["direct"].cert, [], [pki["root"].cert], AT)
    assert direct.issuers == (pki["root"].sha256,) and direct.chain_problem == ""


@pytest.mark.parametrize(("leaf", "carried", "why"), [
    ("untrusted", ["stranger"], "no certificate the hub trusts or the document carries"),
    ("leaf", [], "no certificate the hub trusts or the document carries issued"),
    ("root_signed_by_non_ca", [], "is not a CA certificate"),
    ("under_expired_ca", ["expired_ca"], "is not valid at the seal"),
])
def test_a_chain_that_stops_short_of_a_trusted_root_says_why(
        pki: dict[str, Issued], leaf: str, carried: list[str], why: str) -> None:
    made = {"root_signed_by_non_ca": lambda: issue("Văn thư", pki["not_a_ca"]),
            "under_expired_ca": lambda: issue("Văn thư", pki["expired_ca"])}
    signer = made[leaf]() if leaf in made else pki[leaf]
    pool = [pki[c].cert for c in carried] + ([pki["not_a_ca"].cert]
                                             if leaf == "root_signed_by_non_ca" else [])
    found = assess(signer.cert, pool, [pki["root"].cert], AT)
    assert why in found.chain_problem


def test_without_roots_chains_are_not_checked_but_verified_links_are_named(
        pki: dict[str, Issued]) -> None:
    found = assess(pki["untrusted"].cert, [pki["stranger"].cert], [], AT)
    assert found.chain_problem == "" and found.issuers == (pki["stranger"].sha256,)
    alone = assess(pki["untrusted"].cert, [], [], AT)
    assert alone.chain_problem == "" and alone.issuers == ()


def test_a_forged_issuer_with_the_right_name_is_not_a_link(pki: dict[str, Issued]) -> None:
    """A CA certificate with the intermediate's name but another key did not sign it."""
    forged = issue("CA phục vụ các cơ quan nhà nước", pki["root"], ca=True)
    found = assess(pki["leaf"].cert, [forged.cert], [pki["root"].cert], AT)
    assert found.issuers == () and "no certificate" in found.chain_problem


def test_roots_are_read_from_a_pem_bundle(tmp_path: Path, pki: dict[str, Issued]) -> None:
    bundle = tmp_path / "roots.pem"
    bundle.write_text(pki["root"].pem + pki["stranger"].pem)
    assert [fingerprint(c) for c in load_roots(bundle)] == [pki["root"].sha256,
                                                            pki["stranger"].sha256]
    assert load_roots(None) == ()


# --- signatures: the chain carried in KeyInfo -------------------------------------------------


def signed_by(data: bytes, signer: Issued, *chain: Issued) -> bytes:
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    key = signer.key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    made = XMLSigner().sign(root, key=key, cert=[signer.pem, *(c.pem for c in chain)])
    return bytes(etree.tostring(made, xml_declaration=True, encoding="UTF-8"))


def test_a_signature_names_its_certificate_and_the_chain_it_carries(
        pki: dict[str, Issued]) -> None:
    data = signed_by(build(sample()), pki["leaf"], pki["intermediate"])
    result, why, found = xmlsig.inspect(data, AT, [pki["root"].cert])
    assert result == xmlsig.VALID and found is not None
    assert found.issuers == (pki["intermediate"].sha256, pki["root"].sha256)
    assert pki["leaf"].sha256 in why
    late = xmlsig.inspect(data, AT + 400 * DAY, [pki["root"].cert])[2]
    assert late is not None
    assert [p.code for p in certificates.problems(late, AT + 400 * DAY)] == [
        "certificate_expired", "certificate_untrusted_chain"], "the leaf and its CA expired"



# --- the analysis on seal ---------------------------------------------------------------------


def analysed(policy: str, cert: Certificate, trust: list[str] | None = None) -> list[str]:
    reg, callers = world()
    _, event = signing.set_policy(reg, CTX, SOURCE, policy, trust or [])
    if event is not None:
        reg.apply(event)
    doc = replace(parse(build(sample())), signed=True)
    found = analyse(replace(CTX, now=AT), sending(reg, callers[SOURCE]), doc, reg,
                    callers[SOURCE], signature=("valid", "ok"), certificate=cert)
    view = json.loads(found.header)["signature"]["certificate"]
    assert view["sha256"] == cert.sha256
    assert [p.split(" ")[0] for p in view["problems"]] == [
        p.code for p in certificates.problems(cert, AT)], "shown whatever the policy"
    return [p.split(" ")[0] for p in found.problems]


def test_an_agency_that_must_sign_has_an_expired_or_unchained_certificate_refused() -> None:
    expired = certificate("aa" * 32, not_after=AT - DAY)
    assert analysed("required", expired) == ["certificate_expired"]
    assert analysed("required", certificate("aa" * 32, not_before=AT + DAY)) == [
        "certificate_not_yet_valid"]
    assert analysed("required", certificate("aa" * 32, chain_problem="no")) == [
        "certificate_untrusted_chain"]
    assert analysed("optional", expired) == [], "shown, not refused, when signing is optional"


def test_a_trust_list_may_name_the_ca_a_certificate_chains_to() -> None:
    chained = certificate("aa" * 32, "cc" * 32)
    assert analysed("required", chained, ["cc" * 32]) == []
    assert analysed("required", chained, ["dd" * 32]) == ["signature_untrusted"]


# --- wired: the roots file of a running hub ---------------------------------------------------


async def test_a_hub_with_roots_refuses_a_document_signed_under_another_ca(
        tmp_path: Path, pki: dict[str, Issued]) -> None:
    bundle = tmp_path / "roots.pem"
    bundle.write_text(pki["root"].pem)
    reg, callers = world()
    _, event = signing.set_policy(reg, CTX, SOURCE, "required")
    assert event is not None
    reg.apply(event)
    now = datetime.now(UTC)
    good = issue("Văn thư", pki["intermediate"], not_before=now - DAY, not_after=now + DAY)
    stranger = issue("Văn thư lạ", pki["stranger"], not_before=now - DAY,
                     not_after=now + DAY)
    rt = await Runtime.open(Settings(data_dir=tmp_path, signing_roots_file=bundle),
                            run_processors=True)
    try:
        rt.view.registry = reg
        sent = []
        for number, (signer, chain) in enumerate(((good, pki["intermediate"]),
                                                  (stranger, pki["stranger"]))):
            data = signed_by(build(sample(code_number=str(20 + number))), signer, chain)
            sent.append(await Packages(rt).send(callers[SOURCE], edxml(data, [DEST]), data,
                                                None, None))
    finally:
        await rt.close()
    accepted, refused = sent
    assert accepted.rejection is None and accepted.state.value == "sealed"
    assert refused.rejection is not None
    assert "certificate_untrusted_chain Signature" in refused.rejection
    assert pki["stranger"].cert.subject.rfc4514_string() in refused.rejection


def test_a_signature_by_a_certificate_expired_by_the_wall_clock_is_valid_but_expired() -> None:
    """signxml alone called it an invalid signature; the hub says what is wrong."""
    now = datetime.now(UTC)
    signer = issue("Văn thư cũ", not_before=now - 400 * DAY, not_after=now - DAY)
    result, _, found = xmlsig.inspect(signed_by(build(sample()), signer), now)
    assert result == xmlsig.VALID and found is not None
    assert [p.code for p in certificates.problems(found, now)] == ["certificate_expired"]


# --- revocation: the CRLs the operator keeps -------------------------------------------------


def crl(by: Issued, *revoked: Issued, signed_with: rsa.RSAPrivateKey | None = None,
        when: datetime = AT - DAY) -> x509.CertificateRevocationList:
    builder = (x509.CertificateRevocationListBuilder().issuer_name(by.cert.subject)
               .last_update(AT - 2 * DAY).next_update(AT + 7 * DAY))
    for gone in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(gone.cert.serial_number)
            .revocation_date(when).build())
    return builder.sign(signed_with or by.key, hashes.SHA256())


def test_a_certificate_its_issuer_s_crl_lists_is_revoked(pki: dict[str, Issued]) -> None:
    chain, roots = [pki["intermediate"].cert], [pki["root"].cert]
    listed = crl(pki["intermediate"], pki["leaf"])
    found = assess(pki["leaf"].cert, chain, roots, AT, [crl(pki["intermediate"]), listed])
    (problem,) = certificates.problems(found, AT)
    assert problem.code == "certificate_revoked" and "Văn thư Sở TTTT" in found.revoked
    ca_revoked = assess(pki["leaf"].cert, chain, roots, AT,
                        [crl(pki["root"], pki["intermediate"])])
    assert "CA phục vụ" in ca_revoked.revoked, "a CA on the chain revoked"


@pytest.mark.parametrize("case", ["forged", "other_issuer", "later", "not_listed"])
def test_a_crl_that_does_not_concern_the_certificate_revokes_nothing(
        pki: dict[str, Issued], case: str) -> None:
    made = {
        "forged": lambda: crl(pki["intermediate"], pki["leaf"],
                              signed_with=pki["stranger"].key),
        "other_issuer": lambda: crl(pki["stranger"], pki["leaf"]),
        "later": lambda: crl(pki["intermediate"], pki["leaf"], when=AT + DAY),
        "not_listed": lambda: crl(pki["intermediate"], pki["expired"]),
    }
    found = assess(pki["leaf"].cert, [pki["intermediate"].cert], [pki["root"].cert], AT,
                   [made[case]()])
    assert found.revoked == "" and certificates.problems(found, AT) == []


def test_crls_are_read_from_a_pem_file(tmp_path: Path, pki: dict[str, Issued]) -> None:
    path = tmp_path / "crls.pem"
    lists = [crl(pki["intermediate"], pki["leaf"]), crl(pki["root"])]
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in lists))
    assert [c.issuer for c in load_crls(path)] == [c.issuer for c in lists]
    assert load_crls(None) == ()
    signed = signed_by(build(sample()), pki["leaf"], pki["intermediate"])
    _, _, found = xmlsig.inspect(signed, AT, [pki["root"].cert], load_crls(path))
    assert found is not None and found.revoked
    assert analysed("required", replace(certificate("aa" * 32), revoked="x")) == [
        "certificate_revoked"]
