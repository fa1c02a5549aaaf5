"""XML signatures on edXML documents: a valid one is recognised, any change to the signed
document makes it invalid, and the reader still reads the signed document."""

from __future__ import annotations

from hub.edxml.builder import build
from hub.edxml.model import Document
from hub.edxml.parse import parse
from infra.xmlsig import INVALID, VALID, check, verify
from tests.signed import new_signer, signed
from tests.unit.test_edxml import sample


def test_a_signed_document_verifies_and_still_reads() -> None:
    data = signed(build(sample()))
    assert verify(data)[0] == VALID
    read = parse(data)
    assert isinstance(read, Document) and read.signed
    assert read.subject == sample().subject


def test_a_changed_document_does_not_verify() -> None:
    data = signed(build(sample())).replace("thử nghiệm".encode(), "sửa đổi".encode())
    result, why = verify(data)
    assert result == INVALID and why


def test_a_signature_without_a_certificate_does_not_verify() -> None:
    data = signed(build(sample()))
    start = data.index(b"<ds:X509Certificate>") + len(b"<ds:X509Certificate>")
    end = data.index(b"</ds:X509Certificate>")
    result, why = verify(data[:start] + data[end:])
    assert (result, why) == (INVALID, "the signature carries no X509Certificate")


def test_an_unsigned_document_reads_as_unsigned() -> None:
    read = parse(build(sample()))
    assert isinstance(read, Document) and not read.signed


def test_a_valid_signature_names_its_certificate_by_fingerprint() -> None:
    signer = new_signer()
    result, why, certificate = check(signed(build(sample()), signer))
    assert signer.sha256 in why, "shown with the document: what a trust list names"
    changed = signed(build(sample()), signer).replace("thử nghiệm".encode(), "sửa".encode())
    assert (result, certificate) == (VALID, signer.sha256)
    assert check(changed)[2] == "", "an invalid signature vouches for no certificate"
