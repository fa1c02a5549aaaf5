"""The Avro schemas mirror the event dataclasses, the codec speaks real single-object
encoding, and every schema change stays backward and forward compatible with history."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import parse_schema, to_parsing_canonical_form

from hub.events import EVENT_BY_NAME, EVENT_TYPES, Event, StatusReported
from infra.avro import (
    MAGIC,
    EventCodec,
    IncompatibleSchemaError,
    MalformedEventError,
    UnknownSchemaError,
    check_compatible,
    default_codec,
    schema_fingerprint,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
HISTORY = SCHEMAS / "history"
TIMESTAMP = {"type": "long", "logicalType": "timestamp-millis"}


def load(path: Path) -> dict[str, Any]:
    return typing.cast(dict[str, Any], json.loads(path.read_text(encoding="utf-8")))


def current(cls: type[Event]) -> dict[str, Any]:
    return load(SCHEMAS / f"{cls.__name__}.avsc")


def history_files() -> list[Path]:
    return sorted(HISTORY.glob("*.avsc"))


def version(path: Path) -> int:
    return int(path.stem.rsplit(".v", 1)[1])


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec(SCHEMAS)


# --- the schemas mirror the dataclasses ----------------------------------------------------


def avro_type(hint: Any) -> Any:
    if hint is str:
        return "string"
    if hint is int:
        return "long"
    if hint is datetime:
        return TIMESTAMP
    if typing.get_origin(hint) is list and typing.get_args(hint) == (str,):
        return {"type": "array", "items": "string"}
    if isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return ["null", avro_type(inner)]
    raise AssertionError(f"no Avro mapping for {hint!r}")


def test_every_event_type_has_a_schema_and_every_schema_an_event_type() -> None:
    files = {p.stem for p in SCHEMAS.glob("*.avsc")}
    assert files == {cls.__name__ for cls in EVENT_TYPES}
    assert {p.stem.rsplit(".v", 1)[0] for p in history_files()} <= files


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)
def test_schema_mirrors_dataclass(cls: type[Event]) -> None:
    schema = current(cls)
    assert schema["type"] == "record"
    assert schema["name"] == cls.__name__
    assert schema["namespace"] == "vn.truc.events"
    assert isinstance(schema["doc"], str) and schema["doc"].strip()
    assert "\n" not in schema["doc"]

    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    assert [f["name"] for f in schema["fields"]] == [f.name for f in fields]
    assert [f.name for f in fields[:4]] == ["event_id", "occurred_at", "actor", "correlation_id"]
    for field, avro in zip(fields, schema["fields"], strict=True):
        expected = avro_type(hints[field.name])
        assert avro["type"] == expected, field.name
        optional = isinstance(expected, list)
        has_default = (field.default is not dataclasses.MISSING
                       or field.default_factory is not dataclasses.MISSING)
        assert ("default" in avro) is has_default, field.name
        if has_default and not optional:
            assert avro["default"] == field.default_factory(), field.name  # type: ignore[misc]
        if optional:
            assert avro["default"] is None
            assert field.default is None
        elif not has_default:
            assert field.default is dataclasses.MISSING


def test_non_obvious_fields_are_documented() -> None:
    def doc(cls: type[Event], name: str) -> str:
        (field,) = [f for f in current(cls)["fields"] if f["name"] == name]
        return typing.cast(str, field["doc"])

    assert "01..16" in doc(StatusReported, "status_code")
    assert "normal | urgent | flash" in doc(EVENT_BY_NAME["PackageRequested"], "priority")
    assert "normal | urgent | flash" in doc(EVENT_BY_NAME["DeliveryPlanned"], "priority")
    algorithm = doc(EVENT_BY_NAME["KeyIssued"], "algorithm")
    assert all(a in algorithm for a in ("HMAC-SHA256", "HMAC-SHA1", "RSA-SHA256"))


def test_every_released_shape_is_in_history() -> None:
    """Each event has a v1, and its newest history version is the current schema: changing
    a schema means adding history/<Event>.v<N+1>.avsc, never editing an old one."""
    for cls in EVENT_TYPES:
        versions = sorted(HISTORY.glob(f"{cls.__name__}.v*.avsc"), key=version)
        assert versions, f"{cls.__name__} has no history"
        assert [version(p) for p in versions] == list(range(1, len(versions) + 1))
        newest = load(versions[-1])
        assert to_parsing_canonical_form(newest) == to_parsing_canonical_form(current(cls))
        assert newest == current(cls), f"{versions[-1].name} differs from the current schema"


# --- round trip ------------------------------------------------------------------------------

WHEN = datetime(2026, 2, 28, 23, 59, 58, 123000, tzinfo=UTC)


def sample(cls: type[Event], *, optionals: bool) -> Event:
    """An instance with non-trivial values; optional fields all set or all None."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for i, field in enumerate(dataclasses.fields(cls)):
        hint = hints[field.name]
        if isinstance(hint, types.UnionType):
            if not optionals:
                values[field.name] = None
                continue
            (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
        if hint is str:
            values[field.name] = f"{field.name} {i}: Công văn số 12/UBND-VP — Hà Nội, Đắk Lắk ✓"
        elif hint is int:
            values[field.name] = 2**40 + i
        elif hint is datetime:
            values[field.name] = WHEN + timedelta(days=i, milliseconds=i)
        else:
            values[field.name] = ["Sở Tài chính", "", f"Bộ Nội vụ {i}"]
    return cls(**values)


CASES = [
    pytest.param(cls, optionals, id=f"{cls.__name__}-{'set' if optionals else 'none'}")
    for cls in EVENT_TYPES
    for optionals in (True, False)
]


@pytest.mark.parametrize(("cls", "optionals"), CASES)
def test_round_trip(codec: EventCodec, cls: type[Event], optionals: bool) -> None:
    event = sample(cls, optionals=optionals)
    decoded = codec.decode(codec.encode(event))
    assert type(decoded) is cls
    assert decoded == event
    for value in vars(decoded).values():
        if isinstance(value, datetime):
            assert value.utcoffset() == timedelta(0)


def test_empty_list_round_trips(codec: EventCodec) -> None:
    event = dataclasses.replace(
        typing.cast(Any, sample(EVENT_BY_NAME["AppApproved"], optionals=True)), operations=[]
    )
    assert codec.decode(codec.encode(event)) == event


def test_timestamps_keep_milliseconds_only(codec: EventCodec) -> None:
    event = dataclasses.replace(
        typing.cast(Any, sample(StatusReported, optionals=True)),
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, 678_999, tzinfo=UTC),
    )
    decoded = codec.decode(codec.encode(event))
    assert decoded.occurred_at == datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def test_non_utc_aware_datetimes_come_back_as_the_same_instant_in_utc(codec: EventCodec) -> None:
    ict = datetime(2026, 1, 2, 10, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=7)))
    event = dataclasses.replace(
        typing.cast(Any, sample(StatusReported, optionals=True)), occurred_at=ict
    )
    decoded = codec.decode(codec.encode(event))
    assert decoded.occurred_at == ict
    assert decoded.occurred_at.tzinfo == UTC


def test_naive_datetimes_are_refused(codec: EventCodec) -> None:
    event = dataclasses.replace(
        typing.cast(Any, sample(StatusReported, optionals=True)), occurred_at=datetime(2026, 1, 1)
    )
    with pytest.raises(ValueError, match="naive"):
        codec.encode(event)


# --- the wire format is real single-object encoding --------------------------------------

_EMPTY = 0xC15D213AA4D7A795
_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_EMPTY & -(_fp & 1))
    _TABLE.append(_fp)


def rabin64(data: bytes) -> int:
    """CRC-64-AVRO exactly as the Avro specification gives it (Java ``fingerprint64``)."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


@pytest.mark.parametrize(
    ("canonical", "java_long"),
    [  # from apache/avro share/test/data/schema-tests.txt
        ('"null"', 7195948357588979594),
        ('"string"', -8142146995180207161),
        ('{"name":"foo","type":"record","fields":[]}', -4824392279771201922),
        ('{"name":"x.y.foo","type":"record","fields":[]}', 5916914534497305771),
    ],
)
def test_rabin_matches_avro_test_vectors(canonical: str, java_long: int) -> None:
    assert rabin64(canonical.encode()) == java_long % 2**64


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)
def test_encoding_is_single_object_encoding(codec: EventCodec, cls: type[Event]) -> None:
    event = sample(cls, optionals=True)
    data = codec.encode(event)
    schema = current(cls)
    canonical = to_parsing_canonical_form(schema)
    assert canonical.startswith(f'{{"name":"vn.truc.events.{cls.__name__}","type":"record"')

    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == rabin64(canonical.encode("utf-8")).to_bytes(8, "little")
    body = fastavro.schemaless_reader(io.BytesIO(data[10:]), parse_schema(schema))
    assert body == vars(event)


# --- schema evolution --------------------------------------------------------------------


@pytest.mark.parametrize("old_path", history_files(), ids=lambda p: p.stem)
def test_current_schema_is_compatible_with_history(old_path: Path) -> None:
    old = load(old_path)
    new = load(SCHEMAS / f"{old_path.stem.rsplit('.v', 1)[0]}.avsc")
    check_compatible(writer=old, reader=new)  # backward: today's code reads old events
    check_compatible(writer=new, reader=old)  # forward: old code reads today's events


def evolve(schema: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``schema`` with fields added (add=[...]), removed (drop=[...]), retyped."""
    out = json.loads(json.dumps(schema))
    out["fields"] = [f for f in out["fields"] if f["name"] not in changes.get("drop", ())]
    for field in out["fields"]:
        if field["name"] in changes.get("retype", {}):
            field["type"] = changes["retype"][field["name"]]
    out["fields"] += changes.get("add", [])
    return typing.cast(dict[str, Any], out)


def test_adding_an_optional_field_with_default_is_compatible() -> None:
    v1 = current(StatusReported)
    v2 = evolve(v1, add=[{"name": "channel", "type": ["null", "string"], "default": None}])
    check_compatible(writer=v1, reader=v2)
    check_compatible(writer=v2, reader=v1)


def test_added_required_field_is_not_backward_compatible() -> None:
    v1 = current(StatusReported)
    v2 = evolve(v1, add=[{"name": "channel", "type": "string"}])
    check_compatible(writer=v2, reader=v1)  # old readers just skip it
    with pytest.raises(IncompatibleSchemaError, match="channel"):
        check_compatible(writer=v1, reader=v2)


def test_removed_field_without_default_is_not_forward_compatible() -> None:
    v1 = current(StatusReported)
    v2 = evolve(v1, drop=["agency_code"])
    check_compatible(writer=v1, reader=v2)  # new readers just skip it
    with pytest.raises(IncompatibleSchemaError, match="agency_code"):
        check_compatible(writer=v2, reader=v1)


def test_removed_field_that_had_a_default_is_compatible() -> None:
    v1 = current(StatusReported)
    v2 = evolve(v1, drop=["note"])
    check_compatible(writer=v1, reader=v2)
    check_compatible(writer=v2, reader=v1)


@pytest.mark.parametrize(
    "new_type",
    ["long", ["null", "long"], TIMESTAMP, {"type": "array", "items": "string"}],
    ids=["long", "nullable-long", "timestamp", "array"],
)
def test_type_change_is_caught(new_type: Any) -> None:
    v1 = current(StatusReported)
    v2 = evolve(v1, retype={"status_code": new_type})
    with pytest.raises(IncompatibleSchemaError, match="status_code"):
        check_compatible(writer=v1, reader=v2)
    with pytest.raises(IncompatibleSchemaError, match="status_code"):
        check_compatible(writer=v2, reader=v1)


def test_making_an_optional_field_required_is_not_backward_compatible() -> None:
    v1 = current(StatusReported)
    v2 = evolve(v1, retype={"note": "string"})
    next(f for f in v2["fields"] if f["name"] == "note").pop("default")
    check_compatible(writer=v2, reader=v1)
    with pytest.raises(IncompatibleSchemaError, match="note"):
        check_compatible(writer=v1, reader=v2)


def test_logical_type_change_is_caught() -> None:
    v1 = current(StatusReported)
    micros = {"type": "long", "logicalType": "timestamp-micros"}
    with pytest.raises(IncompatibleSchemaError, match="occurred_at"):
        check_compatible(writer=v1, reader=evolve(v1, retype={"occurred_at": micros}))


def test_codec_decodes_bytes_written_by_an_older_version(tmp_path: Path) -> None:
    """Pretend today's StatusReported is v2 and that v1 lacked the optional ``note``:
    bytes written by v1 still decode, through EventCodec, to today's dataclass."""
    today = current(StatusReported)
    v1 = evolve(today, drop=["note"])
    (tmp_path / "history").mkdir()
    shutil.copy(SCHEMAS / "StatusReported.avsc", tmp_path / "StatusReported.avsc")
    (tmp_path / "history" / "StatusReported.v1.avsc").write_text(json.dumps(v1), "utf-8")
    (tmp_path / "history" / "StatusReported.v2.avsc").write_text(json.dumps(today), "utf-8")
    codec = EventCodec(tmp_path)

    event = typing.cast(Any, sample(StatusReported, optionals=True))
    old_record = {k: v for k, v in vars(event).items() if k != "note"}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parse_schema(v1), old_record)
    v1_fp = rabin64(to_parsing_canonical_form(v1).encode()).to_bytes(8, "little")
    old_bytes = b"\xc3\x01" + v1_fp + body.getvalue()

    assert old_bytes[2:10] != codec.encode(event)[2:10]
    assert codec.decode(old_bytes) == dataclasses.replace(event, note=None)
    assert codec.decode(codec.encode(event)) == event
    with pytest.raises(UnknownSchemaError):  # only StatusReported lives in this directory
        codec.encode(sample(EVENT_BY_NAME["AppRevoked"], optionals=True))


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc3", b"garbage bytes, not an event", b"\x00\x01" + bytes(20), b"\xc3\x02" + bytes(8)],
    ids=["empty", "one-byte", "text", "bad-magic", "bad-version"],
)
def test_garbage_is_malformed(codec: EventCodec, data: bytes) -> None:
    with pytest.raises(MalformedEventError):
        codec.decode(data)


def test_truncated_or_padded_body_is_malformed(codec: EventCodec) -> None:
    data = codec.encode(sample(EVENT_BY_NAME["PackageRequested"], optionals=True))
    for cut in (10, 11, len(data) // 2, len(data) - 1):
        with pytest.raises(MalformedEventError):
            codec.decode(data[:cut])
    with pytest.raises(MalformedEventError, match="trailing"):
        codec.decode(data + b"\x00")


def test_unknown_fingerprint(codec: EventCodec) -> None:
    data = codec.encode(sample(StatusReported, optionals=True))
    forged = data[:2] + bytes(8) + data[10:]
    with pytest.raises(UnknownSchemaError, match="0000000000000000"):
        codec.decode(forged)


def test_errors_are_value_errors() -> None:
    assert issubclass(MalformedEventError, ValueError)
    assert issubclass(UnknownSchemaError, ValueError)
    assert issubclass(IncompatibleSchemaError, ValueError)


def test_unregistered_event_type_cannot_be_encoded(codec: EventCodec) -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Stray(Event):
        pass

    stray = Stray(event_id="e", occurred_at=WHEN, actor="a", correlation_id="c")
    with pytest.raises(UnknownSchemaError, match="Stray"):
        codec.encode(stray)


def test_schema_that_drifts_from_its_dataclass_is_refused(tmp_path: Path) -> None:
    drifted = evolve(current(StatusReported), drop=["note"])
    (tmp_path / "StatusReported.avsc").write_text(json.dumps(drifted), "utf-8")
    with pytest.raises(ValueError, match="do not mirror"):
        EventCodec(tmp_path)


def test_schemas_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(SCHEMAS / "AppRevoked.avsc", tmp_path / "AppRevoked.avsc")
    monkeypatch.setenv("TRUC_SCHEMAS_DIR", str(tmp_path))
    codec = EventCodec()
    assert codec.schemas_dir == tmp_path
    assert [name for _, name in codec.fingerprints()] == [str(tmp_path / "AppRevoked.avsc")]


def test_default_codec_is_shared_and_complete() -> None:
    codec = default_codec()
    assert default_codec() is codec
    for cls in EVENT_TYPES:
        assert codec.schema(cls.__name__) == current(cls)


# --- partial decoding (replays read only the fields a fold declares) ----------------------


@pytest.mark.parametrize(("cls", "optionals"), CASES)
def test_partial_decoding_reads_the_named_fields_as_decode_does(
        codec: EventCodec, cls: type[Event], optionals: bool) -> None:
    event = sample(cls, optionals=optionals)
    data = codec.encode(event)
    names = [f.name for f in dataclasses.fields(cls)]
    for wanted in [{name} for name in names] + [set(names), {"not_a_field"}]:
        partial = codec.partial(wanted)(data)
        assert type(partial) is cls
        assert vars(partial) == {n: v for n, v in vars(event).items() if n in wanted}
    assert codec.partial(names)(data) == event


def test_partial_decoding_of_times_before_1970(codec: EventCodec) -> None:
    early = datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)
    event = dataclasses.replace(typing.cast(Any, sample(StatusReported, optionals=True)),
                                occurred_at=early)
    assert codec.partial({"occurred_at"})(codec.encode(event)).occurred_at == early


def test_partial_decoding_skips_arrays_written_in_sized_blocks(codec: EventCodec) -> None:
    """Avro lets a writer give an array block's byte size (negative item count) so readers
    can skip it: fastavro never writes that, another writer may."""
    event = dataclasses.replace(typing.cast(Any, sample(EVENT_BY_NAME["PackageRequested"],
                                                        optionals=True)), recipients=["ab", "c"])
    plain = codec.encode(event)
    sized = plain.replace(b"\x04\x04ab\x02c\x00", b"\x03\x0a\x04ab\x02c\x00")
    assert sized != plain and codec.decode(sized) == event
    read = codec.partial({"package_id", "declared_size", "recipient_agency_ids"})
    assert vars(read(sized)) == vars(read(plain))


def test_partial_decoding_refuses_what_decode_refuses(codec: EventCodec) -> None:
    data = codec.encode(sample(EVENT_BY_NAME["PackageRequested"], optionals=True))
    read = codec.partial({"package_id", "declared_size"})
    for cut in (0, 1, 10, 11, len(data) // 2, len(data) - 1):
        with pytest.raises(MalformedEventError):
            read(data[:cut])
    with pytest.raises(MalformedEventError, match="trailing"):
        read(data + b"\x00")
    with pytest.raises(UnknownSchemaError):
        read(data[:2] + bytes(8) + data[10:])
    with pytest.raises(MalformedEventError):
        read(b"\x00\x01" + data[2:])


def test_partial_decoding_of_an_older_version_decodes_it_whole(tmp_path: Path) -> None:
    v1 = load(HISTORY / "PackageRequested.v1.avsc")
    body = {f["name"]: f"x{i}" if f["type"] == "string" else [] for i, f in
            enumerate(v1["fields"]) if f["name"] not in ("occurred_at", "declared_size",
                                                         "idempotency_key")}
    body.update(occurred_at=WHEN, declared_size=7, idempotency_key=None)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parse_schema(v1), body)
    data = MAGIC + schema_fingerprint(v1) + buf.getvalue()
    codec = EventCodec(SCHEMAS)
    whole = codec.decode(data)
    assert codec.partial({"declared_size"})(data) == whole
    assert typing.cast(Any, whole).recipient_agency_ids == []
