"""Reading a large edXML package (issue 14): 50 MB with 20 attachments, streamed through
the hub's reader (``hub.edxml.reader``) in 1 MiB chunks, against the baseline of parsing
the same bytes whole with the standard library's ElementTree (what a naive hub would do).

Each side runs in a fresh process, so its peak resident memory (``VmHWM``) minus the
resident memory before it read anything is its own: the streamed reader's growth stays
near one chunk, the whole-document parse grows with the package.

    python -m bench.edxml [--megabytes 50] [--attachments 20]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import Recorder, Result

MiB = 1 << 20
CHUNK = MiB


def write_package(path: Path, megabytes: int, attachments: int) -> None:
    """An edXML file of about ``megabytes`` MB: base64 takes 4/3 of each attachment."""
    from hub.edxml.builder import build_document
    from hub.edxml.model import AttachmentInfo, Document, Organ

    each = megabytes * 10**6 * 3 // 4 // attachments
    infos = tuple(AttachmentInfo(f"cid:{i}", f"phu-luc-{i}.pdf", "application/pdf", "", each,
                                 "") for i in range(attachments))
    doc = Document(Organ("000.00.11.H53", "Sở TT&TT"), (Organ("000.00.12.H53"),),
                   code_number="1", code_notation="BENCH", promulgation_place="Vũng Tàu",
                   promulgation_date="2026-11-29", type_code="1", type_name="Công văn",
                   subject="Benchmark", attachments=infos)
    block = os.urandom(MiB)
    contents = [[block[:each % MiB], *([block] * (each // MiB))] for _ in infos]
    with path.open("wb") as out:
        for piece in build_document(doc, contents):
            out.write(piece)


def _vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def measure(path: Path, how: str) -> dict[str, Any]:
    """Runs in the child: read the package ``how`` (streamed | whole), report figures."""
    from hub.edxml.parse import interpret
    from hub.edxml.reader import Reader

    before = _vm("VmRSS:")
    began = time.perf_counter()
    if how == "streamed":
        reader, wanted = Reader(wanted=7), hashlib.sha256()
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                reader.feed(chunk)
                wanted.update(reader.take())
        doc = interpret(reader.close(), reader.payloads)
        count = len(doc.attachments)  # type: ignore[union-attr]
    else:
        import base64
        from xml.etree import ElementTree

        root = ElementTree.fromstring(path.read_bytes())
        found = [e for e in root.iter() if e.tag.endswith("ContentTransferEncoded")]
        count = len([base64.b64decode(e.text or "") for e in found])
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "growth": _vm("VmHWM:") - before, "attachments": count}


def child(path: Path, how: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.edxml", "--child", how, str(path)],
                         capture_output=True, text=True, check=True)
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


def run(rec: Recorder, megabytes: int = 50, attachments: int = 20) -> None:
    with tempfile.TemporaryDirectory(prefix="truc-bench-edxml-") as tmp:
        path = Path(tmp) / "large.edxml"
        write_package(path, megabytes, attachments)
        size = path.stat().st_size
        streamed, whole = child(path, "streamed"), child(path, "whole")
    assert streamed["attachments"] == whole["attachments"] == attachments
    extra = {"package_mib": round(size / MiB, 1), "attachments": attachments}
    rec.emit(Result("edxml.read_rss_growth", "embedded", streamed["growth"] / MiB, "MiB",
                    whole["growth"] / MiB, extra))
    rec.emit(Result("edxml.read_throughput", "embedded", size / MiB / streamed["seconds"],
                    "MiB/s", size / MiB / whole["seconds"], extra))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edxml", description=__doc__)
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--attachments", type=int, default=20)
    parser.add_argument("--child", nargs=2, metavar=("HOW", "PATH"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[1]), args.child[0])))
        return
    run(Recorder("edxml"), args.megabytes, args.attachments)


if __name__ == "__main__":
    main()
