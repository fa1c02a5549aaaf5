"""Reading a national agency list (``getAgenciesList``) as a stream of rows.

JSON — an array of objects, or the axis's answer object whose ``data`` is that array —
or CSV with a header row (``id,pid,code,name,mail,oldCode,code102``, UTF-8, a BOM
allowed). Read in chunks, one object at a time: memory stays bounded whatever the size
of the list (a whole country is 100,000+ rows).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

CHUNK = 1 << 16
_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n,"


class BadList(ValueError):
    """The file is not a list this reader understands (the message says where)."""


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of ``path``: CSV when its name ends in ``.csv``, else JSON."""
    with path.open(encoding="utf-8-sig", newline="") as source:
        if path.suffix.lower() == ".csv":
            yield from csv.DictReader(source)
        else:
            yield from json_rows(source)


def json_rows(source: IO[str]) -> Iterator[dict[str, Any]]:
    buffer, at = _until_array(source)
    while True:
        while True:
            at = _skip(buffer, at)
            if at < len(buffer) or not (more := source.read(CHUNK)):
                break
            buffer, at = buffer[at:] + more, 0
        if at >= len(buffer):
            raise BadList("the JSON list ends before its closing ]")
        if buffer[at] == "]":
            return
        item, at, buffer = _object(source, buffer, at)
        yield item


def _object(source: IO[str], buffer: str, at: int) -> tuple[dict[str, Any], int, str]:
    """The next object, reading more text until it is whole."""
    while True:
        try:
            item, end = _DECODER.raw_decode(buffer, at)
        except json.JSONDecodeError as exc:
            more = source.read(CHUNK)
            if not more:
                raise BadList(f"not a JSON list of objects: {exc.msg}") from None
            buffer, at = buffer[at:] + more, 0
            continue
        if not isinstance(item, dict):
            raise BadList(f"a list item is {type(item).__name__}, not an object")
        return item, end, buffer


def _skip(buffer: str, at: int) -> int:
    while at < len(buffer) and buffer[at] in _SPACE:
        at += 1
    return at


def _until_array(source: IO[str]) -> tuple[str, int]:
    """The text from just after the list's ``[``: the top-level array, or the one after
    a ``"data"`` key in an answer object."""
    buffer = source.read(CHUNK)
    start = _skip(buffer, 0)
    if buffer[start:start + 1] == "[":
        return buffer, start + 1
    while True:
        key = buffer.find('"data"')
        bracket = buffer.find("[", key) if key >= 0 else -1
        if bracket >= 0:
            return buffer, bracket + 1
        more = source.read(CHUNK)
        if not more:
            raise BadList("no JSON array, and no \"data\" array in an object")
        buffer = buffer[-16:] + more
