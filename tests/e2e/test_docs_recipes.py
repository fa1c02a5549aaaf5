"""The docs, followed literally: README.md's *A first exchange in two minutes* and
docs/integrating.md's *A complete exchange with curl*. The commands are read from the
docs' fenced ``sh`` blocks at test time, so a doc that changes without the code (or the
code without the doc) breaks these tests.

What is filled in, as a reader would: the placeholders the docs name (``APP_ID``,
``DEST_APP_ID``, ``$AK``/``$SK``, ``$DEST_AK``/``$DEST_SK``, ``PACKAGE_ID``; in
integrating.md the example host and keys) from the previous commands' ``--json`` output,
and the port: the hub listens on a free port instead of 8080. ``make run`` is approximated
by what its recipe runs, ``.venv/bin/truc serve`` (checked against the Makefile), with
``TRUC_PORT`` set, in a fresh directory, so the data dir is a new ``./truc-data``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.e2e.hubs import RunningHub, running_hub, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SOURCE_CODE, DEST_CODE = "000.00.11.H53", "000.00.12.H53"


def section(markdown: str, heading: str) -> str:
    """The text under ``heading`` down to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = markdown.index(f"\n{heading}\n")
    rest = markdown[start + len(heading) + 2:]
    stop = re.search(rf"\n#{{1,{len(level)}}} ", rest)
    return rest[:stop.start()] if stop else rest


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def commands(block: str) -> list[list[str]]:
    """Each line of a block as argv (comments dropped, ``\\`` continuations joined)."""
    joined = block.replace("\\\n", " ")
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


def test_make_run_is_truc_serve() -> None:
    """What the README test runs for ``make run``."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: install\n\t\$\(BIN\)/truc serve\n", makefile, flags=re.M)


class Reader:
    """Runs the README's commands one by one as a new user would, in a fresh folder."""

    def __init__(self, cwd: Path, port: int) -> None:
        self.cwd, self.port = cwd, port
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
        self.values: dict[str, str] = {}
        self.added: list[str] = []
        self.keys: list[dict[str, Any]] = []
        self.hub: subprocess.Popen[bytes] | None = None
        self.outputs: list[subprocess.CompletedProcess[str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fill(self, arg: str) -> str:
        arg = arg.replace("http://127.0.0.1:8080", self.url)
        for name in sorted(self.values, key=len, reverse=True):
            arg = arg.replace(f"${name}", self.values[name])
        for name in ("DEST_APP_ID", "APP_ID", "PACKAGE_ID"):
            if arg == name:
                arg = self.values[name]
        return arg

    def run(self, argv: list[str]) -> None:
        if argv == ["make", "run", "&"]:
            self.start_hub()
            return
        if argv[0] == "export":
            for assignment in argv[1:]:
                name, _, value = assignment.partition("=")
                self.env[name] = self.fill(value)
            return
        args = [self.fill(a) for a in argv]
        if args[0].startswith(".venv/bin/"):
            args[0] = str(VENV_BIN / args[0].removeprefix(".venv/bin/"))
        result = subprocess.run(args, cwd=self.cwd, env=self.env, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}{result.stderr}"
        self.outputs.append(result)
        self.learn(argv, result.stdout)

    def start_hub(self) -> None:
        env = {**self.env, "TRUC_PORT": str(self.port)}
        with (self.cwd / "hub.log").open("ab") as log:
            self.hub = subprocess.Popen([str(VENV_BIN / "truc"), "serve"], cwd=self.cwd,
                                        env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_healthy(self.url, self.hub)

    def learn(self, argv: list[str], stdout: str) -> None:
        """The values the README tells the reader to note."""
        if argv[1:4] == ["admin", "app", "add"]:
            self.added.append(json.loads(stdout)["app_id"])
            self.values["DEST_APP_ID" if len(self.added) == 2 else "APP_ID"] = self.added[-1]
        elif argv[1:4] == ["admin", "app", "approve"]:
            key = json.loads(stdout)["key"]
            prefix = "DEST_" if len(self.keys) == 1 else ""
            self.keys.append(key)
            self.values[f"{prefix}AK"] = key["access_key"]
            self.values[f"{prefix}SK"] = key["secret_key"]
        elif argv[1] == "send":
            self.values["PACKAGE_ID"] = stdout.split(maxsplit=1)[0]

    def stop(self) -> None:
        if self.hub is not None:
            self.hub.terminate()
            self.hub.wait(timeout=30)


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    reading = Reader(tmp_path, free_port())
    try:
        yield reading
    finally:
        reading.stop()


@pytest.mark.timeout(900)  # a dozen `truc` processes: minutes on a loaded box
def test_the_readme_first_exchange_delivers_the_document(reader: Reader) -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = sh_blocks(section(readme, "## A first exchange in two minutes"))
    assert len(blocks) == 3, "setup, the source sends, the destination receives"
    document = os.urandom(200_000)
    (reader.cwd / "cong-van.pdf").write_bytes(document)
    for block in blocks:
        for argv in commands(block):
            reader.run(argv)
    assert {"APP_ID", "DEST_APP_ID", "AK", "SK", "DEST_AK", "DEST_SK", "PACKAGE_ID"} <= set(
        reader.values), "the README names every value it asks the reader to note"
    assert (reader.cwd / "truc-data").is_dir(), "the hub and the admin commands shared it"
    assert (reader.cwd / "received.pdf").read_bytes() == document
    sent = next(r for r in reader.outputs if r.args[1] == "send")
    assert sent.stdout.split()[1] == "sealed" and "warning" not in sent.stderr
    status = subprocess.run(
        [str(VENV_BIN / "truc"), "status", reader.values["PACKAGE_ID"], "--json"],
        env={**reader.env, "TRUC_ACCESS_KEY": reader.values["AK"],
             "TRUC_SECRET_KEY": reader.values["SK"]},
        capture_output=True, text=True, timeout=60, check=True)
    (delivery,) = json.loads(status.stdout)["deliveries"]
    assert delivery["agency_code"] == DEST_CODE
    assert delivery["state"] == "acknowledged"
    assert [s["code"] for s in delivery["statuses"]] == ["03"]


# --- docs/integrating.md, section 3, with the real curl --------------------------------

SKIPPED = {
    "/v1/events": "a live stream that never ends by itself (tested in test_presence.py)",
}


@pytest.fixture
def curl_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub("embedded", tmp_path_factory.mktemp("curl-recipe")) as hub:
        yield hub


@pytest.mark.timeout(900)  # a dozen `truc` processes: minutes on a loaded box
def test_the_curl_recipe_of_integrating_md_works_verbatim(curl_hub: RunningHub,
                                                          tmp_path: Path) -> None:
    for tool in ("curl", "jq", "sha256sum", "split", "stat"):
        assert shutil.which(tool), f"the recipe needs {tool}"
    doc = (ROOT / "docs" / "integrating.md").read_text()
    blocks = sh_blocks(section(doc, "## 3. A complete exchange with curl"))
    assert len(blocks) >= 10
    source, dest = apps(curl_hub)
    script = "\n".join(b for b in blocks if not any(s in b for s in SKIPPED))
    script = (script.replace("https://truc.example.gov.vn", curl_hub.url)
              .replace("TRUCXXXXXXXXXXXXXXXX", source["access_key"])
              .replace("'source-secret-key'", shlex.quote(source["secret_key"]))
              .replace("TRUCYYYYYYYYYYYYYYYY", dest["access_key"])
              .replace("'destination-secret-key'", shlex.quote(dest["secret_key"])))
    document = os.urandom(2 * 1024 * 1024 + 500_000)  # three chunks of 1 MiB
    (tmp_path / "ho-so.pdf").write_bytes(document)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "received.pdf").read_bytes() == document
    assert '"state": "completed"' in result.stdout
    assert '"PackageSealed"' in result.stdout and '"DeliveryAcknowledged"' in result.stdout
    one_call = result.stdout[result.stdout.index('"title": "Phụ lục hồ sơ số 7"') - 80:]
    assert '"state": "sealed"' in one_call[:200] and '"state": "planned"' in one_call[:700], \
        "the one-call send answers sealed, its delivery planned"
    assert "bytes_sent" in (tmp_path / "today.csv").read_text().splitlines()[0]


def apps(hub: RunningHub) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two agencies of the recipe, each with an approved app (the operator's part,
    section 1 of integrating.md, is not a curl recipe)."""
    keys = []
    for code in (SOURCE_CODE, DEST_CODE):
        hub.ops("POST", "/v1/ops/agencies", {"code": code, "name": f"Sở {code}"})
        app = hub.ops("POST", "/v1/ops/apps", {"agency_code": code, "name": "QLVB"})
        keys.append(hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve", {})["key"])
    return keys[0], keys[1]


def test_the_readme_distributed_section_gives_the_master_key() -> None:
    """Without TRUC_MASTER_KEY the worker stops (with one line, tests/unit/
    test_admin_local.py): the README must set it before the distributed commands."""
    readme = (ROOT / "README.md").read_text()
    (block,) = sh_blocks(section(readme, "## Running it distributed"))
    lines = [" ".join(argv) for argv in commands(block)]
    key_line = next(i for i, line in enumerate(lines) if "TRUC_MASTER_KEY=" in line)
    worker_line = next(i for i, line in enumerate(lines) if " worker " in f" {line} ")
    assert key_line < worker_line
