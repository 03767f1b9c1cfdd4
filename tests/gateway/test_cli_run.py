"""`bluewatch run` at start-up: a secret file or an outbox that cannot be used is one line, not a
traceback."""

from __future__ import annotations

import io
from pathlib import Path

from gateway.cli import run
from gateway.commands import EXIT_FAILURE


def test_a_webhook_secret_file_too_short_at_start_is_one_clear_line(tmp_path: Path) -> None:
    secret = tmp_path / "webhook.secret"
    secret.write_text("short\n")
    config = tmp_path / "gateway.toml"
    config.write_text(
        'agency = "pd"\nunit = "car-1"\n'
        f'[outbox]\npath = "{tmp_path / "outbox.sqlite3"}"\n'
        '[ble]\nbackend = "bumble"\nbumble_transport = "tcp-client:127.0.0.1:9"\n'
        '[[webhooks]]\nname = "dispatch"\nurl = "http://127.0.0.1:9/alerts"\n'
        f'secret_file = "{secret}"\n'
    )
    out, err = io.StringIO(), io.StringIO()
    status = run(["run", "--config", str(config)], io.StringIO(), out, err)
    assert status == EXIT_FAILURE
    message = err.getvalue()
    assert message.startswith("bluewatch run: secret file ")
    assert str(secret) in message
    assert "Traceback" not in message
    assert "short" not in message.replace(str(secret), "")  # the secret itself never appears


def test_an_outbox_that_cannot_be_opened_is_one_clear_line(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.sqlite3"
    outbox.mkdir()  # a directory where the file should be: SQLite cannot open it
    config = tmp_path / "gateway.toml"
    config.write_text(
        'agency = "pd"\nunit = "car-1"\n'
        f'[outbox]\npath = "{outbox}"\n'
        '[ble]\nbackend = "bumble"\nbumble_transport = "tcp-client:127.0.0.1:9"\n'
    )
    err = io.StringIO()
    status = run(["run", "--config", str(config)], io.StringIO(), io.StringIO(), err)
    assert status == EXIT_FAILURE
    assert err.getvalue().startswith(f"bluewatch run: outbox {outbox} cannot be opened: ")
    assert err.getvalue().count("\n") == 1
