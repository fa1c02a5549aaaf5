"""A scripted day of package and presence events on a manual clock, for the statistics
and history tests."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

from hub import events as ev
from hub.clock import ManualClock
from hub.ports import Position, Recorded
from hub.topics import route


class Traffic:
    """Makes events at the clock's time and numbers them like a log would (per topic and
    partition, partition chosen from the key)."""

    def __init__(self, clock: ManualClock, partitions: int = 3) -> None:
        self.clock = clock
        self.partitions = partitions
        self.log: list[Recorded] = []
        self._offsets: dict[tuple[str, int], itertools.count[int]] = {}

    def env(self) -> ev.Envelope:
        return {"event_id": str(uuid.uuid4()), "occurred_at": self.clock.now(),
                "actor": "test", "correlation_id": "c"}

    def add(self, event: ev.Event) -> Recorded:
        topic, key = route(event)
        partition = sum(key.encode()) % self.partitions
        offset = next(self._offsets.setdefault((topic, partition), itertools.count()))
        recorded = Recorded(Position(topic, partition, offset), key, event)
        self.log.append(recorded)
        return recorded

    def request(self, source: str, recipients: dict[str, str], title: str = "Công văn",
                size: int = 100, data_type: str = "pdf") -> str:
        package_id = str(uuid.uuid4())
        self.add(ev.PackageRequested(
            **self.env(), package_id=package_id, source_agency_id=source,
            source_agency_code=f"code-{source}", source_app_id="app", title=title,
            recipients=list(recipients), priority="normal", data_type=data_type,
            protocol="truc/1", declared_size=size, declared_sha256="0" * 64,
            recipient_agency_ids=list(recipients.values())))
        return package_id

    def analyse(self, package_id: str, doc_type: str, kind: str = "document",
                problems: tuple[str, ...] = ()) -> ev.DocumentAnalysed:
        """The hub read the package as an edXML document (or status package) of a type."""
        analysed = ev.DocumentAnalysed(
            **self.env(), package_id=package_id, kind=kind, problems=list(problems),
            sender_code="s", document_id="d", code_number="1", code_notation="X",
            promulgation_date="2026-11-27", document_type=doc_type, subject="s",
            business_doc_type="0", business_key="k", signature="none", header="{}")
        self.add(analysed)
        return analysed

    def seal(self, package_id: str, size: int = 100) -> None:
        self.add(ev.PackageSealed(**self.env(), package_id=package_id, size=size,
                                  sha256="0" * 64))

    def plan(self, package_id: str, code: str, dest: str) -> ev.DeliveryPlanned:
        planned = ev.DeliveryPlanned(**self.env(), package_id=package_id,
                                     destination_agency_id=dest, destination_code=code,
                                     priority="normal")
        self.add(planned)
        return planned

    def send(self, source: str, recipients: dict[str, str], size: int = 100,
             title: str = "Công văn", data_type: str = "pdf") -> str:
        package_id = self.request(source, recipients, title, size, data_type)
        self.clock.advance(timedelta(seconds=1))
        self.seal(package_id, size)
        for code, dest in recipients.items():
            self.plan(package_id, code, dest)
        return package_id

    def ack(self, package_id: str, dest: str) -> None:
        self.add(ev.DeliveryAcknowledged(**self.env(), package_id=package_id,
                                         destination_agency_id=dest, app_id="app",
                                         sha256="0" * 64))

    def expire(self, package_id: str, dest: str) -> None:
        self.add(ev.DeliveryExpired(**self.env(), package_id=package_id,
                                    destination_agency_id=dest, reason="deadline"))

    def reject(self, package_id: str) -> None:
        self.add(ev.PackageRejected(**self.env(), package_id=package_id,
                                    reason_code="digest_mismatch", reason="bad"))

    def connect(self, agency: str) -> None:
        self.add(ev.AgencyConnected(**self.env(), agency_id=agency, agency_code=f"code-{agency}",
                                    app_id="app", node="n1", channel="ws"))

    def disconnect(self, agency: str) -> None:
        self.add(ev.AgencyDisconnected(**self.env(), agency_id=agency,
                                       agency_code=f"code-{agency}", app_id="app", node="n1",
                                       reason="closed"))

    def recall(self, package_id: str, dest: str) -> None:
        self.add(ev.DeliveryRecalled(**self.env(), package_id=package_id,
                                     destination_agency_id=dest, reason="cancelled"))

    def extend(self, package_id: str, dest: str) -> None:
        self.add(ev.DeadlineExtended(**self.env(), package_id=package_id,
                                     destination_agency_id=dest,
                                     deadline=self.clock.now() + timedelta(days=1)))

    def redirect(self, package_id: str, dest: str, to: str) -> None:
        self.add(ev.DeliveryRedirected(**self.env(), package_id=package_id,
                                       from_agency_id=dest, to_agency_id=to, to_code=to))
        self.plan(package_id, to, to)
