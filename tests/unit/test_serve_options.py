"""``truc serve`` hands the access-log setting to uvicorn (on unless TRUC_ACCESS_LOG=false)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from api.cli import app


@pytest.mark.parametrize(("env", "expected"), [(None, True), ("false", False), ("true", True)])
def test_access_log_setting_reaches_uvicorn(env: str | None, expected: bool, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kw: seen.update(kw))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRUC_ACCESS_LOG", raising=False)
    if env is not None:
        monkeypatch.setenv("TRUC_ACCESS_LOG", env)
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert seen["access_log"] is expected
    assert seen["log_level"] == "info"
