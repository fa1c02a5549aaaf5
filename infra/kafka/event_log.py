"""The event log on Kafka.

Logical topics (``packages``) map to prefixed Kafka topics (``truc.packages``) so several
hubs or test runs can share a cluster. The producer is idempotent with ``acks=all``: an
append that returns is on every in-sync replica, and a retried send is never duplicated.
Reads assign partitions directly (no consumer group): replays and API nodes that must see
every event each read the whole topic; scaling out processors is Faust's job.

A Kafka that is unreachable or too slow raises the domain's retriable ``Unavailable``
(code ``engine_unavailable``), so a request answers 503, not 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from hub.errors import Unavailable
from hub.events import Event
from hub.ports import Position, Recorded
from infra.avro import EventCodec, UnrecordableEvent, default_codec
from infra.undecodable import lenient

BATCH_BYTES = 1024 * 1024
"""The largest record batch the producer builds: what ``append_batch`` may hold (the
broker's default ``message.max.bytes`` is about the same)."""


def engine_down(exc: BaseException) -> bool:
    """Unreachable, timed out, or a broker-side error Kafka itself calls retriable (no
    leader, node not ready…) — as opposed to a bug, which stays a 500."""
    return isinstance(exc, KafkaConnectionError | KafkaTimeoutError) or (
        isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False)))


@contextmanager
def mapped_errors() -> Iterator[None]:
    try:
        yield
    except KafkaError as exc:
        if not engine_down(exc):
            raise
        raise Unavailable(f"Kafka did not answer ({type(exc).__name__}); retry later",
                          code="engine_unavailable", engine="kafka") from exc


class KafkaEventLog:
    def __init__(self, bootstrap: str, prefix: str = "truc.", codec: EventCodec | None = None):
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._codec = codec or default_codec()
        self._producer: AIOKafkaProducer | None = None
        self._meta: AIOKafkaConsumer | None = None

    async def start(self) -> KafkaEventLog:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            max_batch_size=BATCH_BYTES,
            client_id="truc-event-log",
        )
        with mapped_errors():
            await self._producer.start()
            self._meta = self._consumer()
            await self._meta.start()
        return self

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )

    def kafka_topic(self, topic: str) -> str:
        return self._prefix + topic

    def _logical(self, kafka_topic: str) -> str:
        return kafka_topic.removeprefix(self._prefix)

    async def append(self, topic: str, key: str, event: Event) -> Position:
        if self._producer is None:
            raise RuntimeError("KafkaEventLog.start() was not awaited")
        payload = self._codec.encode(event)  # bounded: what encodes reads back (contract)
        with mapped_errors():
            meta = await self._producer.send_and_wait(
                self.kafka_topic(topic), value=payload, key=key.encode()
            )
        return Position(topic, meta.partition, meta.offset)

    async def append_batch(self, topic: str, key: str,
                           events: Sequence[Event]) -> list[Position]:
        """One Kafka record batch to the key's partition: the broker appends a batch
        whole, so readers see every event of it or none."""
        if self._producer is None:
            raise RuntimeError("KafkaEventLog.start() was not awaited")
        payloads = [self._codec.encode(e) for e in events]
        if not payloads:
            return []
        name, raw_key = self.kafka_topic(topic), key.encode()
        batch = self._producer.create_batch()
        for payload in payloads:
            if batch.append(key=raw_key, value=payload, timestamp=None) is None:
                raise UnrecordableEvent(f"{len(payloads)} events of {sum(map(len, payloads))} "
                                        "bytes do not fit one Kafka batch")
        batch.close()
        with mapped_errors():
            partition = await self._partition_of(name, raw_key)
            sent = await self._producer.send_batch(batch, name, partition=partition)
            meta = await sent
        return [Position(topic, meta.partition, meta.offset + i) for i in range(len(payloads))]

    async def append_each(self, topic: str,
                          keyed: Sequence[tuple[str, Event]]) -> list[Position]:
        """One record batch per partition the keys map to (more if one would not fit),
        sent together; a partition's batches one after the other, in the order given.
        Every event is encoded before anything is sent."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("KafkaEventLog.start() was not awaited")
        records = [(key.encode(), self._codec.encode(e)) for key, e in keyed]
        name = self.kafka_topic(topic)
        parts: dict[int, list[int]] = {}
        with mapped_errors():
            for i, (raw_key, _) in enumerate(records):
                parts.setdefault(await self._partition_of(name, raw_key), []).append(i)
        found: dict[int, Position] = {}

        async def send(partition: int, indexes: list[int]) -> None:
            while indexes:
                taken = self._filled(records, indexes)
                with mapped_errors():
                    meta = await (await producer.send_batch(taken[1], name,
                                                            partition=partition))
                for j, i in enumerate(indexes[:taken[0]]):
                    found[i] = Position(topic, meta.partition, meta.offset + j)
                indexes = indexes[taken[0]:]

        await asyncio.gather(*(send(p, ix) for p, ix in parts.items()))
        return [found[i] for i in range(len(records))]

    def _filled(self, records: Sequence[tuple[bytes, bytes]], indexes: Sequence[int]
                ) -> tuple[int, Any]:
        """A closed record batch of as many of ``indexes`` as fit, and how many."""
        assert self._producer is not None
        batch = self._producer.create_batch()
        count = 0
        for i in indexes:
            raw_key, payload = records[i]
            if batch.append(key=raw_key, value=payload, timestamp=None) is None:
                break
            count += 1
        if count == 0:
            raise UnrecordableEvent(f"an event of {len(records[indexes[0]][1])} bytes does "
                                    "not fit one Kafka batch")
        batch.close()
        return count, batch

    async def _partition_of(self, kafka_topic: str, key: bytes) -> int:
        """The partition ``send`` chooses for ``key``: the producer's own choice, asked
        the way ``send`` asks it (aiokafka has no public call for either step)."""
        producer = self._producer
        assert producer is not None
        await producer.client._wait_on_metadata(kafka_topic)
        return int(producer._partition(kafka_topic, None, key, None, key, None))

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        if self._meta is None:
            raise RuntimeError("KafkaEventLog.start() was not awaited")
        name = self.kafka_topic(topic)
        parts = self._meta.partitions_for_topic(name)
        if parts is None:
            with mapped_errors():
                await self._meta._client.force_metadata_update()  # aiokafka has no public call
            parts = self._meta.partitions_for_topic(name)
        return [TopicPartition(name, p) for p in sorted(parts or ())]

    async def end_offsets(self, topic: str) -> dict[int, int]:
        parts = await self._partitions(topic)
        if not parts or self._meta is None:
            return {}
        with mapped_errors():
            ends = await self._meta.end_offsets(parts)
        return {tp.partition: int(off) for tp, off in ends.items()}

    def _recorded(self, msg: object,
                  decode: Callable[[bytes], Event] | None = None) -> Recorded:
        """A message that does not decode is an ``Undecodable`` event, not an error that
        would end the read (``infra/undecodable.py``)."""
        return Recorded(
            Position(self._logical(msg.topic), msg.partition, msg.offset),  # type: ignore[attr-defined]
            (msg.key or b"").decode(errors="replace"),  # type: ignore[attr-defined]
            lenient(self._codec, decode)(msg.value),  # type: ignore[attr-defined]
        )

    async def read(
        self, topic: str, start: Mapping[int, int] | None = None,
        types: Collection[str] | None = None, fields: Collection[str] | None = None,
    ) -> AsyncIterator[Recorded]:
        decode = self._codec.decode if fields is None else self._codec.partial(fields)
        ends = await self.end_offsets(topic)
        starts = {p: (start or {}).get(p, 0) for p in ends}
        todo = {p for p in ends if starts[p] < ends[p]}
        if not todo:
            return
        consumer = self._consumer()
        with mapped_errors():
            await consumer.start()
        try:
            name = self.kafka_topic(topic)
            consumer.assign([TopicPartition(name, p) for p in todo])
            for p in todo:
                consumer.seek(TopicPartition(name, p), starts[p])
            while todo:
                with mapped_errors():
                    batches = await consumer.getmany(timeout_ms=1000)
                for tp, messages in batches.items():
                    for msg in messages:
                        if msg.offset < ends[tp.partition] and (
                                types is None or self._codec.name_of(msg.value or b"") in types):
                            yield self._recorded(msg, decode)
                for p in list(todo):
                    if await consumer.position(TopicPartition(name, p)) >= ends[p]:
                        todo.discard(p)
        finally:
            await consumer.stop()

    async def subscribe(
        self, topics: Sequence[str], start: Mapping[tuple[str, int], int] | None = None
    ) -> AsyncIterator[Recorded]:
        consumer = self._consumer()
        await consumer.start()
        try:
            assigned = []
            for topic in topics:
                assigned += await self._partitions(topic)
            consumer.assign(assigned)
            for tp in assigned:
                consumer.seek(tp, (start or {}).get((self._logical(tp.topic), tp.partition), 0))
            async for msg in consumer:
                yield self._recorded(msg)
        finally:
            await consumer.stop()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        if self._meta is not None:
            await self._meta.stop()
        self._producer = self._meta = None
