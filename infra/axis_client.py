"""A client of the national axis's protocol (docs/national-axis.md), as the vendor SDK
speaks it: ``POST {endpoint}/{operation}``, the parameters as ``XroadVnpt-*`` headers
signed with HMAC-SHA256 under the caller's secret (``hub.axis.signature.sign``).

The gateway (``streams/gateway.py``) uses it towards the upstream axis; it speaks to a
Truc facade as well (the e2e tests' upstream). Every failure is an ``AxisError``: its
``retriable`` says whether trying again later may succeed (the axis unreachable, a
5xx, a clock or signature refusal that a corrected clock or key may cure).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from hub.axis.edocs import sdk_hex
from hub.axis.signature import sign, stamp

VERSION = "3.0.201608"


class AxisError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail

    @property
    def retriable(self) -> bool:
        return self.status == 0 or self.status >= 500 or self.status in (401, 408, 429)


class AxisClient:
    """One axis account (its ``systemid`` and secret) at one endpoint."""

    def __init__(self, url: str, system_id: str, secret: str, *,
                 now: Callable[[], datetime], timeout: float = 60,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = url.rstrip("/")
        self._system_id = system_id
        self._secret = secret
        self._now = now
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def __aenter__(self) -> AxisClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, operation: str, params: dict[str, str], body: bytes = b""
                   ) -> dict[str, Any]:
        """One signed call; its answer, or ``AxisError`` (a ``FAIL`` answer included; a
        Truc hub's door answers some refusals as problem+json: ``code``, ``detail``)."""
        signed = {"systemid": self._system_id, "timestamp": stamp(self._now()), **params}
        headers = {f"XroadVnpt-{k}": v for k, v in signed.items()}
        headers.update(sign(signed, self._secret))
        headers.update({"XroadVnpt-version": VERSION, "Content-Type": "application/octet-stream",
                        "User-Agent": "Truc-gateway/1.0 XRoad/VPCP"})
        try:
            answer = await self._http.post(f"{self._url}/{operation}", headers=headers,
                                           content=body)
        except httpx.HTTPError as exc:
            raise AxisError(0, "axis_unreachable", str(exc) or type(exc).__name__) from exc
        try:
            found: Any = answer.json()
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise AxisError(answer.status_code or 502, "axis_answer",
                            f"{operation} answered no JSON object")
        if answer.status_code >= 400 or str(found.get("status", "OK")).upper() != "OK":
            raise AxisError(answer.status_code if answer.status_code >= 400 else 422,
                            str(found.get("ErrorCode") or found.get("code") or "axis_fail"),
                            str(found.get("ErrorDesc") or found.get("detail") or ""))
        return found

    async def send_edoc(self, content: bytes, message_type: str = "edoc") -> str:
        """Sends an ``.edxml`` file; its ``DocId`` on the axis."""
        digest = sdk_hex(hashlib.sha256(content).digest())
        found = await self.call("sendEdoc", {"servicetype": "eDoc",
                                             "messagetype": message_type,
                                             "hash-file": digest}, content + b"\r\n")
        doc_id = str(found.get("DocId") or "")
        if not doc_id:
            raise AxisError(502, "axis_answer", "sendEdoc answered no DocId")
        return doc_id

    async def received(self) -> list[dict[str, Any]]:
        """``getReceivedEdocList``: what the axis holds for this account."""
        return _items(await self.call("getReceivedEdocList", {}))

    async def sent(self) -> list[dict[str, Any]]:
        """``getSentEdocList``: one row per destination of each document sent."""
        return _items(await self.call("getSentEdocList", {}))

    async def get_edoc(self, doc_id: str) -> bytes:
        found = await self.call("getEdoc", {"docId": doc_id})
        data = found.get("data")
        if not isinstance(data, str):
            raise AxisError(502, "axis_answer", "getEdoc answered no base64 string")
        return base64.b64decode(data)

    async def update_status(self, doc_id: str, status: str) -> None:
        await self.call("updateStatus", {"docId": doc_id, "status": status})


def _items(found: dict[str, Any]) -> list[dict[str, Any]]:
    data = found.get("data")
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []
