"""``truc send`` options: ``--to`` may be left out (a ``--type edxml`` document names its
recipients; the hub answers any other send without them with ``no_recipients``), but
``--edxml`` writes the document's To from it, so it needs it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from api.cli import app


def test_edxml_wrapping_needs_to_before_anything_is_sent(tmp_path: Path) -> None:
    pdf = tmp_path / "cong-van.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    result = CliRunner().invoke(app, ["send", "--edxml", "--title", "Công văn", str(pdf)],
                                env={"TRUC_URL": "http://127.0.0.1:9", "TRUC_ACCESS_KEY": "a",
                                     "TRUC_SECRET_KEY": "s"})
    assert result.exit_code == 2
    assert "--edxml writes the document's To from --to" in result.output


def test_to_is_an_option_a_send_may_leave_out() -> None:
    result = CliRunner().invoke(app, ["send", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "its To names them" in result.output
    assert "[required]" not in result.output.split("--to")[1].split("\n")[0]
