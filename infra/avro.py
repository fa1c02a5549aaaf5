"""Avro codec for hub events: single-object encoding against ``schemas/*.avsc``.

Wire format (Avro "single-object encoding", as in the Avro specification)::

    C3 01 | CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form,
            8 bytes little-endian | Avro binary body

The codec loads every current schema (``schemas/<Event>.avsc``) and every earlier
version (``schemas/history/<Event>.v<N>.avsc``) and indexes each by fingerprint, so
bytes written by an older release are decoded by resolving them (Avro schema
resolution) to today's schema of the same event.

Schemas are parsed once; ``encode`` and ``decode`` do one dict lookup each before handing
over to fastavro. Timestamps are ``timestamp-millis``: encode requires timezone-aware
datetimes and decode returns aware UTC datetimes, truncated to the millisecond.

Nothing unreadable is recorded: ``checked`` encodes an event and decodes the bytes back
before an event log appends them, and refuses (``UnrecordableEvent``, a 400 naming the
field when it can) what could not be read back — a date outside Python's years once moved
to UTC, an integer wider than a long, a lone surrogate. The domain bounds values where they
enter (``hub.bounds``); this is the wall behind them.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import os
import re
import typing
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from hub.errors import InvalidRequest
from hub.events import EVENT_BY_NAME, Event

__all__ = [
    "HEADER_SIZE",
    "MAGIC",
    "NAMESPACE",
    "SCHEMAS_DIR_ENV",
    "EventCodec",
    "IncompatibleSchemaError",
    "MalformedEventError",
    "UnknownSchemaError",
    "UnrecordableEvent",
    "check_compatible",
    "default_codec",
    "schema_fingerprint",
]

MAGIC: Final = b"\xc3\x01"
FINGERPRINT_SIZE: Final = 8
HEADER_SIZE: Final = len(MAGIC) + FINGERPRINT_SIZE
NAMESPACE: Final = "vn.truc.events"
SCHEMAS_DIR_ENV: Final = "TRUC_SCHEMAS_DIR"
HISTORY_DIR: Final = "history"

_DEFAULT_SCHEMAS_DIR: Final = Path(__file__).resolve().parent.parent / "schemas"
_HISTORY_FILE: Final = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[0-9]+)$")

Schema = dict[str, Any]
_Record = dict[str, Any]


class UnknownSchemaError(ValueError):
    """No schema is known for a fingerprint (decode) or an event type (encode)."""


class MalformedEventError(ValueError):
    """The bytes are not a single-object-encoded event: bad header, truncated or corrupt."""


class IncompatibleSchemaError(ValueError):
    """Data written with one schema cannot be read with another."""


class UnrecordableEvent(InvalidRequest, ValueError):
    """An event whose bytes could not be read back: refused before it reaches the log.
    A 400 for the caller whose value it carries (``field`` names it when known)."""

    code = "unrecordable_value"


_FIRST_UTC: Final = datetime.min.replace(tzinfo=UTC)
_LAST_UTC: Final = datetime.max.replace(tzinfo=UTC)
_LONG: Final = range(-(2**63), 2**63)


def schema_fingerprint(schema: Mapping[str, Any]) -> bytes:
    """The 8 header bytes for ``schema``: CRC-64-AVRO of its canonical form, little-endian.

    fastavro returns the fingerprint as hex of the little-endian bytes (as the Java
    implementation and the single-object encoding header do), so no byte swap is needed.
    """
    canonical = to_parsing_canonical_form(dict(schema))
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


# --- codec ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Encoder:
    header: bytes
    schema: Schema
    record_of: Callable[[Event], _Record]
    datetime_fields: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class _Decoder:
    source: str
    writer: Schema
    reader: Schema | None  # None: the writer schema is the current one, no resolution
    cls: type[Event]
    build: Callable[[_Record], Event]


class EventCodec:
    """Encodes events to single-object Avro bytes and back.

    ``schemas_dir`` defaults to ``$TRUC_SCHEMAS_DIR`` or else the repository's ``schemas/``.
    Construction fails (``ValueError``) if a schema does not mirror its dataclass, names an
    unknown event, or a history version has no current schema.
    """

    def __init__(self, schemas_dir: str | os.PathLike[str] | None = None) -> None:
        if schemas_dir is None:
            schemas_dir = os.environ.get(SCHEMAS_DIR_ENV) or _DEFAULT_SCHEMAS_DIR
        self.schemas_dir = Path(schemas_dir)
        if not self.schemas_dir.is_dir():
            raise FileNotFoundError(f"schemas directory not found: {self.schemas_dir}")
        self._raw: dict[str, Schema] = {}
        self._encoders: dict[type[Event], _Encoder] = {}
        self._decoders: dict[bytes, _Decoder] = {}
        self._partials: dict[frozenset[str], Callable[[bytes], Event]] = {}
        current: dict[str, Schema] = {}

        for path in sorted(self.schemas_dir.glob("*.avsc")):
            raw = _load_json(path)
            name = path.stem
            cls = _event_class(path, raw, name)
            _check_mirrors_dataclass(path, raw, cls)
            parsed = cast(Schema, parse_schema(raw))
            fp = schema_fingerprint(raw)
            self._raw[name] = raw
            current[name] = parsed
            self._encoders[cls] = _Encoder(
                header=MAGIC + fp,
                schema=parsed,
                record_of=_record_getter(cls),
                datetime_fields=_datetime_fields(cls),
            )
            self._index(fp, _Decoder(str(path), parsed, None, cls, _builder(cls)))

        for path in sorted((self.schemas_dir / HISTORY_DIR).glob("*.avsc")):
            match = _HISTORY_FILE.match(path.stem)
            if match is None:
                raise ValueError(f"{path}: history files are named <Event>.v<N>.avsc")
            name = match["name"]
            raw = _load_json(path)
            cls = _event_class(path, raw, name)
            if name not in current:
                raise ValueError(f"{path}: no current schema {name}.avsc to resolve it to")
            fp = schema_fingerprint(raw)
            existing = self._decoders.get(fp)
            if existing is not None and existing.writer["name"] == f"{NAMESPACE}.{name}":
                continue  # same canonical form as a schema already indexed (e.g. current)
            writer = cast(Schema, parse_schema(raw))
            self._index(fp, _Decoder(str(path), writer, current[name], cls, _builder(cls)))

    def _index(self, fp: bytes, decoder: _Decoder) -> None:
        clash = self._decoders.get(fp)
        if clash is not None:
            raise ValueError(
                f"fingerprint {fp.hex()} of {decoder.source} collides with {clash.source}"
            )
        self._decoders[fp] = decoder

    # -- hot path ----------------------------------------------------------------------

    def encode(self, event: Event) -> bytes:
        """Single-object encoding of ``event`` with its current schema."""
        try:
            enc = self._encoders[type(event)]
        except KeyError:
            raise UnknownSchemaError(
                f"no schema for event type {type(event).__qualname__} in {self.schemas_dir}"
            ) from None
        record = enc.record_of(event)
        for name in enc.datetime_fields:
            value = record[name]
            if value is None:
                continue
            if value.tzinfo is None:
                raise UnrecordableEvent(
                    f"{type(event).__name__}.{name} is a naive datetime; events carry aware UTC",
                    field=name)
            if not _FIRST_UTC <= value <= _LAST_UTC:  # compared without moving it: no overflow
                raise UnrecordableEvent(
                    f"{type(event).__name__}.{name} is {value.isoformat()}: outside the years "
                    "1 to 9999 once moved to UTC, it could not be read back", field=name)
        buf = io.BytesIO()
        buf.write(enc.header)
        try:
            schemaless_writer(buf, enc.schema, record)
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            field = _culprit(record)
            raise UnrecordableEvent(
                f"cannot encode {type(event).__name__}"
                f"{'' if field is None else '.' + field}: {exc}",
                **({} if field is None else {"field": field})) from exc
        return buf.getvalue()

    def checked(self, event: Event) -> tuple[bytes, Event]:
        """The bytes of ``event`` and the event read back from them: proof that what an
        event log is about to append can be read by every processor. ``UnrecordableEvent``
        if it cannot (nothing is appended then). Costs one decode (10–30 µs), which the
        SQLite log needed anyway for its in-memory tail."""
        data = self.encode(event)
        try:
            return data, self.decode(data)
        except (MalformedEventError, UnknownSchemaError) as exc:
            raise UnrecordableEvent(
                f"{type(event).__name__} would be recorded but could not be read back: {exc}"
            ) from exc

    def decode(self, data: bytes) -> Event:
        """The event in ``data``, resolved to today's schema if written by an older one."""
        if len(data) < HEADER_SIZE:
            raise MalformedEventError(
                f"{len(data)} bytes is shorter than the {HEADER_SIZE}-byte single-object header"
            )
        if data[:2] != MAGIC:
            raise MalformedEventError(
                f"not Avro single-object encoding: starts with {bytes(data[:2]).hex()}, "
                f"expected {MAGIC.hex()}"
            )
        fp = bytes(data[2:HEADER_SIZE])
        dec = self._decoders.get(fp)
        if dec is None:
            raise UnknownSchemaError(
                f"unknown schema fingerprint {fp.hex()} (not in {self.schemas_dir} "
                f"or its {HISTORY_DIR}/)"
            )
        buf = io.BytesIO(data)
        buf.seek(HEADER_SIZE)
        try:
            record = schemaless_reader(buf, dec.writer, dec.reader)
        except Exception as exc:  # fastavro signals bad bytes with assorted exceptions
            raise MalformedEventError(
                f"corrupt or truncated body for {dec.source}: {type(exc).__name__}: {exc}"
            ) from exc
        if buf.tell() != len(data):
            raise MalformedEventError(
                f"{len(data) - buf.tell()} trailing bytes after the body for {dec.source}"
            )
        return dec.build(cast(_Record, record))

    def partial(self, fields: Collection[str]) -> Callable[[bytes], Event]:
        """A decoder that reads only ``fields`` of each event: its event has the right class
        but only those attributes (a fold that declares what it reads, ``Fold.reads``,
        gets exactly that). Strings it does not need are skipped, never built: most of
        what decoding costs (``truc replay`` of the statistics fold decodes 4 of the 17
        fields of a ``PackageRequested``). Same checks as ``decode`` (header, trailing
        bytes); bytes of an older schema, or a schema with types this reader does not
        know, are decoded whole by ``decode``."""
        wanted = frozenset(fields)
        known = self._partials.get(wanted)
        if known is not None:
            return known
        readers: dict[bytes, Callable[[bytes], Event] | None] = {}

        def decode(data: bytes) -> Event:
            fp = bytes(data[2:HEADER_SIZE])
            if fp in readers:
                read = readers[fp]
            else:
                dec = self._decoders.get(fp)
                read = readers[fp] = None if dec is None else _partial_reader(dec, wanted)
            if read is None or data[:2] != MAGIC:
                return self.decode(data)
            return read(data)

        self._partials[wanted] = decode
        return decode

    def name_of(self, data: bytes) -> str | None:
        """The event type in ``data``, from its header alone (None if unknown)."""
        dec = self._decoders.get(bytes(data[2:HEADER_SIZE]))
        return None if dec is None else dec.cls.__name__

    def fingerprints_of(self, names: Collection[str]) -> list[bytes]:
        """Every writer fingerprint (current and past schemas) of the named event types."""
        return [fp for fp, dec in self._decoders.items() if dec.cls.__name__ in names]

    # -- introspection -----------------------------------------------------------------

    def schema(self, name: str) -> Schema:
        """A copy of the current schema (as JSON) of event type ``name``."""
        try:
            return json.loads(json.dumps(self._raw[name]))  # type: ignore[no-any-return]
        except KeyError:
            raise UnknownSchemaError(f"no current schema for {name!r}") from None

    def fingerprints(self) -> Iterator[tuple[bytes, str]]:
        """Every known writer fingerprint with the file it came from."""
        for fp, dec in self._decoders.items():
            yield fp, dec.source


@functools.cache
def default_codec() -> EventCodec:
    """The process-wide codec over the default schemas directory (built on first use)."""
    return EventCodec()


def _culprit(record: Mapping[str, Any]) -> str | None:
    """The field that made an encode fail, when it is one of the usual suspects: text
    with a lone surrogate, an integer wider than an Avro long. Only on the failure path."""
    for name, value in record.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str):
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return name
            elif isinstance(item, int) and not isinstance(item, bool) and item not in _LONG:
                return name
    return None


# --- construction helpers -------------------------------------------------------------


def _load_json(path: Path) -> Schema:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise ValueError(f"{path}: an event schema must be an Avro record")
    return cast(Schema, raw)


def _event_class(path: Path, raw: Schema, name: str) -> type[Event]:
    if raw.get("name") != name or raw.get("namespace") != NAMESPACE:
        raise ValueError(
            f"{path}: record must be {NAMESPACE}.{name}, "
            f"found {raw.get('namespace')}.{raw.get('name')}"
        )
    cls = EVENT_BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"{path}: {name} is not an event type of hub.events")
    return cls


def _check_mirrors_dataclass(path: Path, raw: Schema, cls: type[Event]) -> None:
    avro_names = [f["name"] for f in raw["fields"]]
    class_names = [f.name for f in dataclasses.fields(cls)]
    if avro_names != class_names:
        raise ValueError(
            f"{path}: fields {avro_names} do not mirror {cls.__name__} fields {class_names}"
        )


def _record_getter(cls: type[Event]) -> Callable[[Event], _Record]:
    names = tuple(f.name for f in dataclasses.fields(cls))
    if "__slots__" not in cls.__dict__:
        # Plain frozen dataclasses keep exactly their fields in __dict__: hand it to fastavro
        # as is (it only reads the keys the schema names), no per-call dict is built.
        return vars
    return lambda event: {name: getattr(event, name) for name in names}


# --- partial decoding -------------------------------------------------------------------

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_Step = Callable[[bytes, int], tuple[Any, int]]


def _long(data: bytes, i: int) -> tuple[int, int]:
    """An Avro int/long: zig-zag varint."""
    byte = data[i]
    i += 1
    n, shift = byte & 0x7F, 7
    while byte & 0x80:
        byte = data[i]
        i += 1
        n |= (byte & 0x7F) << shift
        shift += 7
    return (n >> 1) ^ -(n & 1), i


def _string(data: bytes, i: int) -> tuple[str, int]:
    n, i = _long(data, i)
    end = i + n
    if n < 0 or end > len(data):
        raise IndexError("string past the end")
    return data[i:end].decode(), end


def _skip_bytes(data: bytes, i: int) -> tuple[None, int]:
    n, i = _long(data, i)
    if n < 0 or i + n > len(data):
        raise IndexError("bytes past the end")
    return None, i + n


def _boolean(data: bytes, i: int) -> tuple[bool, int]:
    return data[i] == 1, i + 1


def _millis(data: bytes, i: int) -> tuple[datetime, int]:
    n, i = _long(data, i)
    return _EPOCH + timedelta(0, n // 1000, n % 1000 * 1000), i


def _null(_: bytes, i: int) -> tuple[None, int]:
    return None, i


def _union(branches: list[_Step]) -> _Step:
    def read(data: bytes, i: int) -> tuple[Any, int]:
        index, i = _long(data, i)
        return branches[index](data, i)
    return read


def _array(item: _Step) -> _Step:
    def read(data: bytes, i: int) -> tuple[list[Any], int]:
        found: list[Any] = []
        count, i = _long(data, i)
        while count:
            if count < 0:
                count = -count
                _, i = _long(data, i)  # the block's size in bytes
            for _ in range(count):
                value, i = item(data, i)
                found.append(value)
            count, i = _long(data, i)
        return found, i
    return read


_PRIMITIVES: Final[dict[tuple[str, str | None, bool], _Step]] = {
    ("long", "timestamp-millis", True): _millis, ("long", "timestamp-millis", False): _long,
    ("int", None, True): _long, ("int", None, False): _long,
    ("long", None, True): _long, ("long", None, False): _long,
    ("string", None, True): _string, ("string", None, False): _skip_bytes,
    ("boolean", None, True): _boolean, ("boolean", None, False): _boolean,
    ("null", None, True): _null, ("null", None, False): _null,
}
"""(type, logical type, read or skip): the reader of each primitive the schemas use."""


def _kind(schema: Any) -> tuple[str, str | None]:
    """A (non-union) schema's type and logical type."""
    if isinstance(schema, dict):
        return str(schema.get("type")), schema.get("logicalType")
    return str(schema), None


def _step(schema: Any, keep: bool) -> _Step:
    """How to read (``keep``) or skip one value of ``schema``; ``NotImplementedError`` for
    a type this reader leaves to fastavro."""
    if isinstance(schema, list):
        return _union([_step(branch, keep) for branch in schema])
    kind, logical = _kind(schema)
    if kind == "array":
        return _array(_step(schema["items"], keep))
    found = _PRIMITIVES.get((kind, logical, keep))
    if found is None:
        raise NotImplementedError(f"partial decoding of {schema!r}")
    return found


def _partial_reader(dec: _Decoder, wanted: frozenset[str]) -> Callable[[bytes], Event] | None:
    """The reader of ``wanted`` fields for one current writer schema (None: decode whole).

    Generated as straight-line Python, one block per field, the one-byte varint (every
    string length below 64) inlined: calling a function per field costs as much as
    fastavro's whole decode. Unions and arrays, rarer, go through the ``_step`` readers."""
    if dec.reader is not None or "__slots__" in dec.cls.__dict__:
        return None
    namespace: dict[str, Any] = {"_long": _long, "_EPOCH": _EPOCH, "_timedelta": timedelta,
                                 "_new": object.__new__, "_cls": dec.cls}
    lines = ["def read(data):", " end = len(data)", f" i = {HEADER_SIZE}"]
    kept: list[str] = []
    try:
        for n, field in enumerate(dec.writer["fields"]):
            keep = field["name"] in wanted
            var = f"v{n}"
            lines += _field_code(field["type"], keep, var, namespace)
            if keep:
                kept.append(f"{field['name']!r}: {var}")
    except NotImplementedError:
        return None
    lines += [" if i != end:", "  raise ValueError(f'{end - i} trailing bytes')",
              " event = _new(_cls)", f" event.__dict__.update({{{', '.join(kept)}}})",
              " return event"]
    exec(compile("\n".join(lines), f"<partial reader of {dec.source}>", "exec"), namespace)
    body, source = namespace["read"], dec.source

    def read(data: bytes) -> Event:
        try:
            return body(data)  # type: ignore[no-any-return]
        except (IndexError, UnicodeDecodeError, ValueError) as exc:
            raise MalformedEventError(
                f"corrupt or truncated body for {source}: {type(exc).__name__}: {exc}"
            ) from exc

    return read


def _varint(var: str) -> list[str]:
    """``var`` = the zig-zag varint at ``i``; one byte inline, longer ones by ``_long``."""
    return [" b = data[i]", " if b < 128:", f"  {var} = (b >> 1) ^ -(b & 1)", "  i += 1",
            " else:", f"  {var}, i = _long(data, i)"]


def _skip_strings() -> list[str]:
    """Skips an array of strings (blocks of items; a negative count gives the block's size)."""
    return [" while True:", *(" " + line for line in _varint("c")), "  if not c:", "   break",
            "  if c < 0:", *("  " + line for line in _varint("n")),
            "   if n < 0 or i + n > end:", "    raise IndexError('block past the end')",
            "   i += n", "   continue",
            "  for _ in range(c):", *("  " + line for line in _varint("n")),
            "   if n < 0 or i + n > end:", "    raise IndexError('string past the end')",
            "   i += n"]


def _field_code(schema: Any, keep: bool, var: str, namespace: dict[str, Any]) -> list[str]:
    kind, logical = _kind(schema)
    if not isinstance(schema, list) and logical in (None, "timestamp-millis") and kind in (
            "int", "long", "string"):
        if kind == "string":
            code = [*_varint("n"), " if n < 0 or i + n > end:",
                    "  raise IndexError('string past the end')"]
            code += [f" {var} = data[i:i + n].decode()", " i += n"] if keep else [" i += n"]
            return code
        code = _varint(var)
        if logical == "timestamp-millis" and keep:
            # positional (seconds, microseconds): a third of the keyword form's cost
            code += [f" {var} = _EPOCH + _timedelta(0, {var} // 1000, {var} % 1000 * 1000)"]
        return code
    if not keep and kind == "array" and schema["items"] == "string":
        return _skip_strings()
    step = f"_step_{var}"
    namespace[step] = _step(schema, keep)
    return [f" {var}, i = {step}(data, i)"]


def _builder(cls: type[Event]) -> Callable[[_Record], Event]:
    """How a decoded record becomes its event. The record holds exactly the dataclass's
    fields (the schema mirrors it, checked above, and reading resolves to the current
    schema), so for a plain frozen dataclass with no ``__post_init__`` the instance is its
    ``__dict__``: filling that directly makes the same object as ``cls(**record)`` without
    the frozen ``__init__``'s one ``object.__setattr__`` per field (a few per cent of a
    whole decode, on every read of the log: processors, notifier, replays of any fold)."""
    if "__slots__" in cls.__dict__ or hasattr(cls, "__post_init__"):
        return lambda record: cls(**record)
    new = object.__new__

    def build(record: _Record) -> Event:
        event = new(cls)
        event.__dict__.update(record)
        return event

    return build


def _datetime_fields(cls: type[Event]) -> tuple[str, ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        f.name
        for f in dataclasses.fields(cls)
        if hints[f.name] is datetime or hints[f.name] == datetime | None
    )


# --- compatibility ----------------------------------------------------------------------

_PROMOTIONS: Final[dict[str, frozenset[str]]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


def check_compatible(writer: Mapping[str, Any], reader: Mapping[str, Any]) -> None:
    """Raise ``IncompatibleSchemaError`` unless data written with ``writer`` reads with ``reader``.

    Two checks: the Avro schema-resolution rules applied structurally (clear messages:
    a reader field missing from the writer needs a default, types must match or promote,
    union branches must resolve; stricter than the spec, a logical type may not change),
    then fastavro itself reads sample records generated from ``writer`` with ``reader``
    (every union branch and enum symbol is exercised).

    Backward compatibility of a new schema is ``check_compatible(old, new)``; forward
    compatibility is ``check_compatible(new, old)``.
    """
    try:
        w = cast(Schema, parse_schema(dict(writer), expand=True, _write_hint=False))
        r = cast(Schema, parse_schema(dict(reader), expand=True, _write_hint=False))
    except Exception as exc:
        raise IncompatibleSchemaError(f"invalid schema: {exc}") from exc
    _resolve(w, r, cast(str, w.get("name", "")))

    parsed_w = parse_schema(dict(writer))
    parsed_r = parse_schema(dict(reader))
    for variant in range(_variant_count(w)):
        sample = _sample(w, variant)
        buf = io.BytesIO()
        schemaless_writer(buf, parsed_w, sample)
        buf.seek(0)
        try:
            schemaless_reader(buf, parsed_w, parsed_r)
        except Exception as exc:
            raise IncompatibleSchemaError(
                f"{w.get('name')}: sample {variant} written with the writer schema "
                f"cannot be read with the reader schema: {exc}"
            ) from exc


def _type_name(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return cast(str, schema["type"])
    return cast(str, schema)


def _logical(schema: Any) -> str | None:
    return cast("str | None", schema.get("logicalType")) if isinstance(schema, dict) else None


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _resolves(writer: Any, reader: Any, path: str) -> bool:
    try:
        _resolve(writer, reader, path)
    except IncompatibleSchemaError:
        return False
    return True


def _resolve(writer: Any, reader: Any, path: str) -> None:  # noqa: PLR0912
    wt, rt = _type_name(writer), _type_name(reader)
    if wt == "union":
        for branch in writer:
            _resolve(branch, reader, path)
        return
    if rt == "union":
        if not any(_resolves(writer, branch, path) for branch in reader):
            raise IncompatibleSchemaError(
                f"{path}: writer type {_describe(writer)} matches no branch of reader union "
                f"{[_describe(b) for b in reader]}"
            )
        return
    if wt != rt and rt not in _PROMOTIONS.get(wt, frozenset()):
        raise IncompatibleSchemaError(
            f"{path}: type changed from {_describe(writer)} to {_describe(reader)}"
        )
    if _logical(writer) != _logical(reader):
        raise IncompatibleSchemaError(
            f"{path}: logical type changed from {_logical(writer)} to {_logical(reader)}"
        )
    if wt in {"record", "enum", "fixed"}:
        names = {_short(reader["name"])} | {_short(a) for a in reader.get("aliases", [])}
        if _short(writer["name"]) not in names:
            raise IncompatibleSchemaError(
                f"{path}: named type {writer['name']} read as {reader['name']}"
            )
    if wt == "record":
        written = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            fpath = f"{path}.{field['name']}"
            candidates = [field["name"], *field.get("aliases", [])]
            source = next((written[n] for n in candidates if n in written), None)
            if source is not None:
                _resolve(source["type"], field["type"], fpath)
            elif "default" not in field:
                raise IncompatibleSchemaError(
                    f"{fpath}: reader field is not in the writer schema and has no default"
                )
    elif wt == "enum":
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            raise IncompatibleSchemaError(
                f"{path}: enum symbols {missing} unknown to the reader, which has no default"
            )
    elif wt == "fixed":
        if writer["size"] != reader["size"]:
            raise IncompatibleSchemaError(
                f"{path}: fixed size changed from {writer['size']} to {reader['size']}"
            )
    elif wt == "array":
        _resolve(writer["items"], reader["items"], f"{path}[]")
    elif wt == "map":
        _resolve(writer["values"], reader["values"], f"{path}{{}}")


def _describe(schema: Any) -> str:
    t = _type_name(schema)
    logical = _logical(schema)
    if t in {"record", "enum", "fixed"}:
        return f"{t} {schema['name']}"
    return f"{t}/{logical}" if logical else t


def _variant_count(schema: Any) -> int:
    t = _type_name(schema)
    if t == "union":
        return max(len(schema), *(_variant_count(b) for b in schema))
    if t == "enum":
        return max(1, len(schema["symbols"]))
    if t == "record":
        return max([2, *(_variant_count(f["type"]) for f in schema["fields"])])
    if t == "array":
        return _variant_count(schema["items"])
    if t == "map":
        return _variant_count(schema["values"])
    return 1


def _sample(schema: Any, variant: int) -> Any:  # noqa: PLR0911
    t = _type_name(schema)
    if t == "union":
        branch = schema[variant % len(schema)]
        value = _sample(branch, variant)
        # tuple notation makes fastavro pick this record branch rather than guess
        return (branch["name"], value) if _type_name(branch) == "record" else value
    if t == "record":
        return {f["name"]: _sample(f["type"], variant) for f in schema["fields"]}
    if t == "array":
        return [_sample(schema["items"], variant)] * (variant % 3)
    if t == "map":
        return {"k": _sample(schema["values"], variant)}
    if t == "enum":
        return schema["symbols"][variant % len(schema["symbols"])]
    if t == "fixed":
        return bytes(schema["size"])
    return {
        "null": None,
        "boolean": variant % 2 == 0,
        "int": variant + 1,
        "long": 1_700_000_000_000 + variant,
        "float": 1.5,
        "double": 2.5,
        "bytes": b"sample",
        "string": f"sample {variant}",
    }[t]
