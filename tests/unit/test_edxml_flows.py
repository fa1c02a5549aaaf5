"""Recall (13/15/16) and business document types (revoke, update, replace) drive the
hub's recall flow with the JSON API's own events (``hub.edxml.links``, ``hub.edxml.flows``)."""

from __future__ import annotations

from dataclasses import replace

from hub import events as ev
from hub.auth.sessions import Caller
from hub.edxml import flows, links
from hub.edxml.analysis import analyse
from hub.edxml.builder import build, build_status
from hub.edxml.model import Document, Organ, ResponseFor, StatusPackage
from hub.edxml.parse import parse
from hub.edxml.rules import Problem, business_key
from hub.packages import decisions as decide
from hub.packages.model import DeliveryState, Package, evolve
from hub.packages.processor import DOCUMENTS, step
from hub.registry.model import Registry
from tests.unit.test_edxml import LIMITS, sample
from tests.unit.test_packages import CTX, DEST, OTHER, SOURCE, delivered, send, world

ORIGINAL = sample()
NAMED = ResponseFor(SOURCE, "12/STTTT-VP", "2026-11-29", ORIGINAL.document_id)


def earlier_at(state: DeliveryState = DeliveryState.PLANNED
               ) -> tuple[Registry, dict[str, Caller], Package, links.Earlier]:
    """The original document delivered to DEST, its delivery in ``state``."""
    callers, pkg, reg = delivered()
    dest = callers[DEST].app.agency_id
    pkg = replace(pkg, deliveries={dest: replace(pkg.deliveries[dest], state=state)})
    return reg, callers, pkg, [(dest, pkg)]


def sending(reg: Registry, caller: Caller, recipients: list[str] | None = None) -> Package:
    requested, _ = decide.request_package(
        reg, caller, CTX, replace(send(data_type="edxml"), recipients=recipients or []), LIMITS)
    pkg = evolve(None, requested)
    assert pkg is not None
    return pkg


def recall_asked(description: str = "Gửi nhầm") -> StatusPackage:
    return StatusPackage(Organ(SOURCE), NAMED, "13", description, "2026-11-29 10:00:00")


def test_a_recall_request_names_the_sender_s_own_document() -> None:
    status = recall_asked()
    assert links.recall_request(status, {SOURCE})
    assert not links.recall_request(status, {DEST}), "13 about another's document"
    assert not links.recall_request(replace(status, status_code="15"), {SOURCE})
    assert links.named_keys(status, {SOURCE}) == [business_key(ORIGINAL)]
    assert links.named_keys(sample(), {SOURCE}) == [], "a new document names none"
    update = sample(business_doc_type="2", response_for=(NAMED,))
    assert links.named_keys(update, {SOURCE}) == [business_key(ORIGINAL)]
    assert links.named_keys(update, {OTHER}) == [], "only the sender's own documents"


def test_a_status_13_goes_to_every_destination_that_received_the_document() -> None:
    reg, callers, pkg, earlier = earlier_at(DeliveryState.ACKNOWLEDGED)
    status_pkg = sending(reg, callers[SOURCE])
    analysed = analyse(CTX, status_pkg, parse(build_status(recall_asked())), reg,
                       callers[SOURCE], earlier=earlier)
    assert analysed.problems == [] and analysed.recipients == [DEST]
    assert analysed.earlier_package_ids == [pkg.package_id]
    made = flows.recall_requests(CTX, recall_asked(), earlier, callers[SOURCE],
                                 set(analysed.recipient_agency_ids))
    assert isinstance(made, list)
    (asked,) = made
    assert isinstance(asked, ev.StatusReported)
    dest = callers[DEST].app.agency_id
    assert (asked.status_code, asked.destination_agency_id, asked.note) == ("13", dest,
                                                                           "Gửi nhầm")
    after = evolve(pkg, asked)
    assert after is not None and after.deliveries[dest].recall_pending
    again = flows.recall_requests(CTX, recall_asked(), [(dest, after)], callers[SOURCE], {dest})
    assert isinstance(again, Problem) and again.code == "status_not_applicable"
    assert "already waits" in again.detail


def test_a_status_13_to_an_agency_that_never_received_it_is_refused() -> None:
    reg, callers, _, earlier = earlier_at()
    named = sending(reg, callers[SOURCE], [OTHER])
    analysed = analyse(CTX, named, parse(build_status(recall_asked())), reg, callers[SOURCE],
                       earlier=earlier)
    assert [p.split(":")[0] for p in analysed.problems] == ["status_document_not_found To"]
    nothing = analyse(CTX, sending(reg, callers[SOURCE]), parse(build_status(recall_asked())),
                      reg, callers[SOURCE], earlier=[])
    assert [p.split(":")[0] for p in nothing.problems] == [
        "status_document_not_found response_for"]


def revoking() -> Document:
    return sample(document_id="revoke-1", business_doc_type="1",
                  business_doc_reason="Sai thể thức", response_for=(NAMED,))


def test_a_revoke_recalls_a_delivery_not_fetched_yet() -> None:
    reg, callers, pkg, earlier = earlier_at(DeliveryState.NOTIFIED)
    doc = revoking()
    analysed = analyse(CTX, sending(reg, callers[SOURCE]), parse(build(doc)), reg,
                       callers[SOURCE], earlier=earlier, held={DEST})
    assert analysed.problems == [], "a revoke may repeat the revoked document's key"
    assert analysed.earlier_package_ids == [pkg.package_id]
    made = flows.revocations(CTX, doc, earlier, callers[SOURCE],
                             set(analysed.recipient_agency_ids))
    assert isinstance(made, list)
    (recalled,) = made
    assert isinstance(recalled, ev.DeliveryRecalled)
    assert recalled.reason == "revoked by document 12/STTTT-VP: Sai thể thức"
    after = evolve(pkg, recalled)
    assert after is not None
    assert after.deliveries[callers[DEST].app.agency_id].state is DeliveryState.RECALLED


def test_a_revoke_asks_a_destination_holding_the_document_to_give_it_back() -> None:
    for state in (DeliveryState.FETCHED, DeliveryState.ACKNOWLEDGED):
        _, callers, _, earlier = earlier_at(state)
        made = flows.revocations(CTX, revoking(), earlier, callers[SOURCE],
                                 {callers[DEST].app.agency_id})
        assert isinstance(made, list)
        assert [(type(e).__name__, getattr(e, "status_code", "")) for e in made] == [
            ("StatusReported", "13")]


def test_a_revoke_leaves_closed_deliveries_and_other_destinations_alone() -> None:
    for state in (DeliveryState.EXPIRED, DeliveryState.RECALLED):
        _, callers, _, earlier = earlier_at(state)
        assert flows.revocations(CTX, revoking(), earlier, callers[SOURCE],
                                 {callers[DEST].app.agency_id}) == []
    _, callers, _, earlier = earlier_at()
    assert flows.revocations(CTX, revoking(), earlier, callers[SOURCE],
                             {callers[OTHER].app.agency_id}) == []
    assert flows.revocations(CTX, sample(), earlier, callers[SOURCE],
                             {callers[DEST].app.agency_id}) == [], "a new document revokes nothing"


def test_a_revoke_of_a_document_nobody_received_is_refused() -> None:
    reg, callers = world()
    analysed = analyse(CTX, sending(reg, callers[SOURCE]), parse(build(revoking())), reg,
                       callers[SOURCE], earlier=[])
    assert [p.split(":")[0] for p in analysed.problems] == [
        "revoked_document_not_found response_for"]


def test_an_update_passes_the_duplicate_check_and_links_the_document_it_updates() -> None:
    reg, callers, pkg, earlier = earlier_at(DeliveryState.ACKNOWLEDGED)
    update = sample(document_id="update-1", business_doc_type="2", response_for=(NAMED,))
    analysed = analyse(CTX, sending(reg, callers[SOURCE]), parse(build(update)), reg,
                       callers[SOURCE], earlier=earlier, held={DEST})
    assert analysed.problems == []
    assert analysed.earlier_package_ids == [pkg.package_id]
    assert '"earlier_packages":["' + pkg.package_id in analysed.header
    assert flows.revocations(CTX, update, earlier, callers[SOURCE], {DEST}) == []


def test_a_revoke_repeating_the_key_does_not_take_the_revoked_document_s_place() -> None:
    """The documents view keeps pointing at the revoked document, so the destination's
    answer (15/16, naming it) finds the delivery the recall request is on."""
    reg, callers, _, earlier = earlier_at()
    for doc, expected in ((revoking(), 0), (sample(), 1)):
        pkg = sending(reg, callers[SOURCE])
        analysed = analyse(CTX, pkg, parse(build(doc)), reg, callers[SOURCE], earlier=earlier)
        assert analysed.problems == []
        read = evolve(pkg, analysed)
        assert read is not None
        sealed = decide.seal(CTX, read, [0, 1], read.sha256, deadline=None,
                             offline_wait_seconds=None)
        rows = [r for r in step(read, sealed).writes.upserts if r.ref.view == DOCUMENTS]
        assert len(rows) == expected
