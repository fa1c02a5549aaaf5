"""``truc serve``: the access-log setting (on unless TRUC_ACCESS_LOG=false) turns the hub's
own line per request on or off (``api.observe``), which replaces uvicorn's access log; the
log format reaches uvicorn's logging configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from api.cli import app
from api.observe import Observe


@pytest.mark.parametrize(("env", "expected"), [(None, True), ("false", False), ("true", True)])
def test_access_log_setting_reaches_uvicorn(env: str | None, expected: bool, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app_, **kw: seen.update(kw, app=app_))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRUC_ACCESS_LOG", raising=False)
    if env is not None:
        monkeypatch.setenv("TRUC_ACCESS_LOG", env)
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert seen["access_log"] is False, "uvicorn's own line would say the same again"
    observe = next(m for m in seen["app"].user_middleware if m.cls is Observe)
    assert observe.kwargs["log_requests"] is expected
    assert seen["log_level"] == "info"


@pytest.mark.parametrize(("fmt", "formatter"), [("json", "JsonFormatter"),
                                                ("plain", "PlainFormatter")])
def test_the_log_format_reaches_uvicorn(fmt: str, formatter: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app_, **kw: seen.update(kw))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "data"),
                                      "--log-format", fmt])
    assert result.exit_code == 0, result.output
    assert seen["log_config"]["formatters"]["truc"]["()"].endswith(formatter)


def test_an_unknown_log_format_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "data"),
                                      "--log-format", "xml"])
    assert result.exit_code == 2 and "log format" in result.output
