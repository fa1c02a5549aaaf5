"""A streaming, hardened edXML reader on the standard library's expat.

Fed the package a chunk at a time (``Reader.feed``), it keeps only the header as a small
tree and never the attachments: their base64 text is decoded as it arrives, counted and
hashed, and handed out (``Reader.take``) for the one attachment a caller wants. So a
50 MB package with 20 attachments is read in memory bounded by the chunk size.

Hostile input is refused, never expanded: any ``<!DOCTYPE`` (which is where XXE, billion
laughs, external DTDs and quadratic blowup live) stops the parse at once, entity
declarations and external entities likewise; without a DTD an entity reference other
than the five predefined ones is a well-formedness error. Depth, element count, names,
attributes and header text are bounded (``Limits``). Expat never touches the network.
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from hub.errors import InvalidRequest


class EdxmlRefused(InvalidRequest):
    """The bytes are not an edXML package the hub will read; ``code`` says why."""

    code = "edxml_malformed"


@dataclass(frozen=True)
class Limits:
    max_depth: int = 24
    max_elements: int = 20_000
    max_attributes: int = 16
    max_attribute_chars: int = 2_048
    max_name_chars: int = 200
    max_text_chars: int = 2_000_000
    """All header text together (attachment payloads excepted)."""
    max_attachments: int = 200


LIMITS = Limits()


@dataclass
class Node:
    """One element of the header tree: local name, text, children."""

    name: str
    parts: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def child(self, name: str) -> Node | None:
        return next((c for c in self.children if c.name == name), None)

    def all(self, name: str) -> list[Node]:
        return [c for c in self.children if c.name == name]

    def get(self, *path: str) -> str:
        node: Node | None = self
        for name in path:
            node = node.child(name) if node is not None else None
        return node.text if node is not None else ""


@dataclass(frozen=True)
class Payload:
    """What one attachment's base64 text decoded to."""

    size: int
    sha256: str


class _Base64:
    """Decodes base64 text given in pieces of any length, whitespace anywhere."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.pending = ""
        self.size = 0
        self.hash = hashlib.sha256()
        self.ended = False

    def feed(self, text: str) -> bytes:
        text = self.pending + "".join(text.split())
        cut = len(text) - len(text) % 4
        self.pending = text[cut:]
        if not cut:
            return b""
        if self.ended:
            raise EdxmlRefused("an attachment has data after its base64 padding",
                               code="edxml_bad_attachment")
        try:
            data = binascii.a2b_base64(text[:cut], strict_mode=True)
        except (binascii.Error, ValueError):
            raise EdxmlRefused("an attachment is not valid base64",
                               code="edxml_bad_attachment") from None
        self.ended = text[cut - 1] == "="
        self.size += len(data)
        self.hash.update(data)
        return data

    def close(self) -> Payload:
        if self.pending.strip():
            raise EdxmlRefused("an attachment's base64 text is cut short",
                               code="edxml_bad_attachment")
        return Payload(self.size, self.hash.hexdigest())


def _refuse(code: str, detail: str) -> EdxmlRefused:
    return EdxmlRefused(detail, code=code)


class Reader:
    """Push parser: ``feed`` chunks, then ``close`` for the header tree and payloads.

    ``wanted``: the index of the attachment whose decoded bytes ``take`` hands out."""

    def __init__(self, limits: Limits = LIMITS, wanted: int | None = None) -> None:
        self.limits = limits
        self.wanted = wanted
        self.root: Node | None = None
        self.payloads: list[Payload] = []
        self._stack: list[Node] = []
        self._elements = 0
        self._text = 0
        self._attachments = 0
        self._decoder: _Base64 | None = None
        self._out: list[bytes] = []
        self._parser = self._make_parser()

    def _make_parser(self) -> Any:
        p = expat.ParserCreate(namespace_separator=" ")
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartDoctypeDeclHandler = self._doctype
        p.EntityDeclHandler = self._entity
        p.ExternalEntityRefHandler = self._external
        p.StartNamespaceDeclHandler = self._namespace
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._characters
        return p

    # --- refusals of hostile constructs ---------------------------------------------------

    def _doctype(self, *_: Any) -> None:
        raise _refuse("edxml_dtd_forbidden", "a DOCTYPE (DTD) is not allowed in edXML: "
                      "no entities, no external references")

    def _entity(self, *_: Any) -> None:
        raise _refuse("edxml_entity_forbidden", "entity declarations are not allowed")

    def _external(self, *_: Any) -> int:
        raise _refuse("edxml_entity_forbidden", "external entities are not allowed")

    def _namespace(self, *_: Any) -> None:
        self._count_element()

    # --- the tree -------------------------------------------------------------------------

    def _count_element(self) -> None:
        self._elements += 1
        if self._elements > self.limits.max_elements:
            raise _refuse("edxml_too_large", f"more than {self.limits.max_elements} elements")

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        self._count_element()
        local = name.rsplit(" ", 1)[-1]
        if len(name) > self.limits.max_name_chars:
            raise _refuse("edxml_too_large", "an element name is too long")
        if len(self._stack) >= self.limits.max_depth:
            raise _refuse("edxml_too_deep", f"elements nest deeper than {self.limits.max_depth}")
        self._check_attributes(attributes)
        node = Node(local)
        if self._stack:
            self._stack[-1].children.append(node)
        else:
            self.root = node
        self._stack.append(node)
        if local == "Attachment":
            self._attachments += 1
            if self._attachments > self.limits.max_attachments:
                raise _refuse("edxml_too_large",
                              f"more than {self.limits.max_attachments} attachments")
        elif local == "ContentTransferEncoded" and self._decoder is None \
                and self._stack[-2:-1] and self._stack[-2].name == "Attachment":
            self._decoder = _Base64(node)

    def _check_attributes(self, attributes: dict[str, str]) -> None:
        if len(attributes) > self.limits.max_attributes:
            raise _refuse("edxml_too_many_attributes",
                          f"an element has more than {self.limits.max_attributes} attributes")
        if any(len(v) > self.limits.max_attribute_chars for v in attributes.values()):
            raise _refuse("edxml_too_large", "an attribute value is too long")

    def _end(self, _: str) -> None:
        node = self._stack.pop()
        if node.name == "ContentTransferEncoded" and self._decoder is not None \
                and self._decoder.node is node:
            self.payloads.append(self._decoder.close())
            self._decoder = None

    def _characters(self, text: str) -> None:
        if self._decoder is not None:
            data = self._decoder.feed(text)
            if data and self.wanted == len(self.payloads):
                self._out.append(data)
            return
        if not self._stack:
            return
        self._text += len(text)
        if self._text > self.limits.max_text_chars:
            raise _refuse("edxml_too_large",
                          f"more than {self.limits.max_text_chars} characters of header text")
        self._stack[-1].parts.append(text)

    # --- driving --------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._parse(data, False)

    def take(self) -> bytes:
        """The wanted attachment's bytes decoded since the last ``take``."""
        out, self._out = b"".join(self._out), []
        return out

    def close(self) -> Node:
        self._parse(b"", True)
        if self.root is None:
            raise _refuse("edxml_malformed", "no XML element at all")
        return self.root

    def _parse(self, data: bytes, final: bool) -> None:
        try:
            self._parser.Parse(data, final)
        except expat.ExpatError as e:
            raise _refuse("edxml_malformed",
                          f"not well-formed XML: {expat.ErrorString(e.code)} "
                          f"(line {e.lineno}, column {e.offset})") from None
