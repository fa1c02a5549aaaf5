"""An admin's call is decided on a registry view that has folded every registry event
recorded so far, on whichever node it was recorded (``api.auth.current_admin``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from api import auth
from hub.auth.authenticate import Forbidden
from hub.registry.model import Role


class Registry:
    def __init__(self) -> None:
        self.caught_up: list[float] = []

    async def catch_up(self, seconds: float) -> None:
        self.caught_up.append(seconds)


def request_as(role: Role, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Registry]:
    registry = Registry()
    runtime = SimpleNamespace(registry=registry)

    async def principal(_: Any) -> Any:
        return "signed"

    monkeypatch.setattr(auth, "principal", principal)
    monkeypatch.setattr(auth, "operator_of", lambda _: SimpleNamespace(role=role))
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(runtime=runtime))), registry


async def test_an_admin_call_first_catches_up_with_the_registry(
        monkeypatch: pytest.MonkeyPatch) -> None:
    request, registry = request_as(Role.ADMIN, monkeypatch)
    operator = await auth.current_admin(request)
    assert operator.role is Role.ADMIN
    assert registry.caught_up == [auth.ADMIN_CATCH_UP_SECONDS]


async def test_a_refused_call_waits_for_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    request, registry = request_as(Role.AUDITOR, monkeypatch)
    with pytest.raises(Forbidden):
        await auth.current_admin(request)
    assert registry.caught_up == []
