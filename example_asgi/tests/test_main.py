"""``python -m example_asgi``: arguments, migrations, the address line, the server's settings."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from example_asgi.__main__ import main

REPO = Path(__file__).resolve().parents[2]

#: Runs main() with the server's run() replaced by a report of its configuration.
FAKE_SERVE = """
import sys
from example_asgi import server

def run(self, sockets=None):
    c = self.config
    print("serve", c.host, c.port, c.lifespan, c.timeout_graceful_shutdown, flush=True)
    self.started = True

server.Server.run = run
from example_asgi.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_it_migrates_prints_the_address_then_serves(tmp_path: Path) -> None:
    database = tmp_path / "shop.sqlite3"
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-c", FAKE_SERVE, "--port", str(port)],
        cwd=REPO,
        env={"EXAMPLE_ASGI_DB": str(database), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"eventbus shop: http://127.0.0.1:{port}/ (Ctrl-C to stop)",
        f"serve 127.0.0.1 {port} off 2",
    ]
    with closing(sqlite3.connect(database)) as db:
        names = [row[0] for row in db.execute("SELECT name FROM shop_product ORDER BY name")]
    assert names == ["Espresso beans", "Filter papers", "Hand grinder", "Milk jug"]


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_a_port_outside_1_to_65535_is_refused(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", port])

    assert exit_info.value.code == 2
    assert f"--port must be between 1 and 65535, not {port}" in capsys.readouterr().err


def test_a_port_that_is_not_a_number_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "http"])

    assert exit_info.value.code == 2
    assert "invalid int value: 'http'" in capsys.readouterr().err


def test_a_busy_port_is_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            main(["--host", "127.0.0.1", "--port", str(port)])

    assert exit_info.value.code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


def test_a_host_that_does_not_resolve_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--host", "no such host.invalid", "--port", str(free_port())])

    assert exit_info.value.code == 2
    assert "--host 'no such host.invalid' is not an address" in capsys.readouterr().err


def test_without_uvicorn_it_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", str(free_port())])

    assert exit_info.value.code == 2
    assert "pip install 'eventbus[example]'" in capsys.readouterr().err
