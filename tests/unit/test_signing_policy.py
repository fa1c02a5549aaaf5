"""Signing policy per agency (issue 14): an operator may require that an agency's edXML
documents carry a valid XML signature; such a document without one is refused on seal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub import audit
from hub.edxml.analysis import analyse
from hub.edxml.builder import build
from hub.edxml.parse import parse
from hub.errors import InvalidRequest, NotFound
from hub.registry import signing
from hub.registry.service import RegistryService
from hub.topics import REGISTRY
from tests.unit.test_certificates import certificate
from tests.unit.test_edxml import sample
from tests.unit.test_edxml_flows import sending
from tests.unit.test_packages import CTX, SOURCE, world
from tests.unit.test_registry import service  # noqa: F401  (the fixture)


def test_a_policy_is_set_once_and_folded_into_the_agency() -> None:
    reg, _ = world()
    agency, event = signing.set_policy(reg, CTX, SOURCE, "required")
    assert event is not None and (event.code, event.signing) == (SOURCE, "required")
    assert not agency.signing_required, "decided, not yet applied"
    reg.apply(event)
    assert reg.agencies[agency.agency_id].signing_required
    assert signing.set_policy(reg, CTX, SOURCE, "required")[1] is None, "already so"
    _, back = signing.set_policy(reg, CTX, SOURCE, "optional")
    assert back is not None
    reg.apply(back)
    assert signing.policy(reg.agencies[agency.agency_id]) == "optional"


def test_a_policy_needs_a_known_agency_and_a_known_value() -> None:
    reg, _ = world()
    with pytest.raises(NotFound) as unknown:
        signing.set_policy(reg, CTX, "000.00.77.H53", "required")
    with pytest.raises(InvalidRequest) as bad:
        signing.set_policy(reg, CTX, SOURCE, "always")
    assert unknown.value.code == "unknown_agency"
    assert bad.value.code == "invalid_signing_policy"


@pytest.mark.parametrize(("result", "said"), [
    ("none", "carries no XML signature"), ("invalid", "signature is invalid"),
    ("unverified", "could not be verified")])
def test_a_document_from_an_agency_that_must_sign_needs_a_valid_signature(
        result: str, said: str) -> None:
    reg, callers = world()
    _, event = signing.set_policy(reg, CTX, SOURCE, "required")
    assert event is not None
    doc = parse(build(sample()))
    pkg = sending(reg, callers[SOURCE])
    before = analyse(CTX, pkg, doc, reg, callers[SOURCE], signature=(result, "why"))
    reg.apply(event)
    refused = analyse(CTX, pkg, doc, reg, callers[SOURCE], signature=(result, "why"))
    signed = analyse(CTX, pkg, replace(doc, signed=True), reg, callers[SOURCE],
                     signature=("valid", ""))
    assert before.problems == [], "optional: shown, not refused"
    (problem,) = refused.problems
    assert problem.startswith(f"signature_required Signature: {SOURCE} must send signed")
    assert said in problem and "(why)" in problem
    assert signed.problems == []


async def test_setting_a_policy_is_an_audited_registry_action(
        service: RegistryService) -> None:  # noqa: F811
    await service.add_agency(CTX, SOURCE, "Sở Thông tin và Truyền thông")
    agency = await service.set_signing(CTX, SOURCE, "required")
    again = await service.set_signing(CTX, SOURCE, "required")
    assert agency.signing_required and again.signing_required
    records = [(r.position.partition, r.position.offset, r.event)
               async for r in service._log.read(REGISTRY)]
    kinds = [type(e).__name__ for _, _, e in records]
    assert kinds.count("SigningPolicySet") == 1
    verdict = audit.verify(records)
    assert verdict.breaks == [] and verdict.linked == 2


def test_a_trust_list_goes_with_required_and_names_fingerprints() -> None:
    reg, _ = world()
    written = ["AB:" + "cd" * 31, "ab" + "cd" * 31]  # the same, as two tools print it
    agency, event = signing.set_policy(reg, CTX, SOURCE, "required", written)
    assert event is not None and event.certificates == ["ab" + "cd" * 31]
    reg.apply(event)
    assert reg.agencies[agency.agency_id].trusted_certificates == ("ab" + "cd" * 31,)
    assert signing.set_policy(reg, CTX, SOURCE, "required", ["ab" + "cd" * 31])[1] is None
    for bad in (("optional", ["ab" * 32]), ("required", ["not-a-fingerprint"]),
                ("required", ["ab" * 32] * 51)):
        with pytest.raises(InvalidRequest) as refused:
            signing.set_policy(reg, CTX, SOURCE, bad[0], bad[1])
        assert refused.value.code == "invalid_signing_policy"


def test_a_signature_by_a_certificate_off_the_trust_list_is_refused() -> None:
    reg, callers = world()
    _, event = signing.set_policy(reg, CTX, SOURCE, "required", ["aa" * 32])
    assert event is not None
    reg.apply(event)
    doc = replace(parse(build(sample())), signed=True)
    pkg = sending(reg, callers[SOURCE])
    trusted = analyse(CTX, pkg, doc, reg, callers[SOURCE], signature=("valid", ""),
                      certificate=certificate("aa" * 32))
    other = analyse(CTX, pkg, doc, reg, callers[SOURCE], signature=("valid", ""),
                    certificate=certificate("bb" * 32))
    assert trusted.problems == []
    (problem,) = other.problems
    assert problem.startswith(f"signature_untrusted Signature: signed with a certificate "
                              f"(SHA-256 {'bb' * 32}) that {SOURCE}'s trust list does not "
                              "name, nor a CA it chains to")
