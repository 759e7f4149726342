"""``python -m example_asgi``: arguments, Redis or not, migrations, the lines it prints, the
server's settings."""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from example_asgi import __main__ as example_main
from example_asgi.__main__ import main
from tests.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]

#: Runs main() with serving replaced by a report of what would be served, and how.
FAKE_SERVE = """
import os, sys
from example_asgi import server

def transport():
    from django.conf import settings
    return settings.EVENTBUS.get("TRANSPORT", {}).get("URL")

def run(self, sockets=None):
    c = self.config
    print("serve", c.app, c.host, c.port, c.lifespan, c.timeout_graceful_shutdown, flush=True)
    print("transport", transport(), flush=True)
    self.started = True

def start(self):
    self.processes = []

def wait(self):
    c = self.config
    print("workers", self.count, c.app, c.host, c.port, c.timeout_graceful_shutdown, flush=True)
    print("transport", transport(), "for the workers", os.environ.get("EXAMPLE_ASGI_REDIS"))
    return 0

server.Server.run = run
server.Workers.start = start
server.Workers.wait = wait
server.Workers.pids = property(lambda self: [101, 102])
from example_asgi.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_main(database: Path, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", FAKE_SERVE, *args],
        cwd=REPO,
        env={"EXAMPLE_ASGI_DB": str(database), "REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_it_migrates_prints_the_address_then_serves(tmp_path: Path) -> None:
    database = tmp_path / "shop.sqlite3"
    port, closed = free_port(), free_port()
    done = run_main(database, f"redis://127.0.0.1:{closed}/0", "--port", str(port))

    assert done.returncode == 0, done.stderr
    no_redis, *lines = done.stdout.splitlines()
    assert re.fullmatch(
        rf"eventbus shop: Redis does not answer at redis://127\.0\.0\.1:{closed}/0 \(.+\): "
        "serving one process, whose events stay in it",
        no_redis,
    )
    assert lines == [
        f"eventbus shop: http://127.0.0.1:{port}/ (Ctrl-C to stop)",
        f"serve example_asgi.asgi:application 127.0.0.1 {port} off 2",
        "transport None",
    ]
    with closing(sqlite3.connect(database)) as db:
        names = [row[0] for row in db.execute("SELECT name FROM shop_product ORDER BY name")]
    assert names == ["Espresso beans", "Filter papers", "Hand grinder", "Milk jug"]


def test_when_redis_answers_the_process_shares_its_events_through_it(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    port = free_port()
    done = run_main(tmp_path / "shop.sqlite3", redis_server.url, "--port", str(port))

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"eventbus shop: 1 process, sharing events through Redis at {redis_server.url}",
        f"eventbus shop: http://127.0.0.1:{port}/ (Ctrl-C to stop)",
        f"serve example_asgi.asgi:application 127.0.0.1 {port} off 2",
        f"transport {redis_server.url}",
    ]


def test_workers_share_redis_and_the_process_that_starts_them_stays_out(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The supervisor migrates without Redis: it serves nothing, so it must not listen."""
    port = free_port()
    done = run_main(
        tmp_path / "shop.sqlite3", redis_server.url, "--port", str(port), "--workers", "2"
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"eventbus shop: 2 worker processes, sharing events through Redis at {redis_server.url}",
        "eventbus shop: worker processes 101, 102",
        f"eventbus shop: http://127.0.0.1:{port}/ (Ctrl-C to stop)",
        f"workers 2 example_asgi.asgi:application 127.0.0.1 {port} 2",
        f"transport None for the workers {redis_server.url}",
    ]


def test_several_workers_without_redis_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = free_port()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed}/0")
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", str(free_port()), "--workers", "2"])

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert (
        f"--workers 2 needs Redis, so that every worker sees every order, but Redis does not "
        f"answer at redis://127.0.0.1:{closed}/0 ("
    ) in error
    assert "Start redis-server, point REDIS_URL at a Redis that answers, or serve one worker." in (
        " ".join(error.split())
    )


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_fewer_than_one_worker_is_refused(workers: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", str(free_port()), "--workers", workers])

    assert exit_info.value.code == 2
    assert f"--workers must be at least 1, not {workers}." in capsys.readouterr().err


def test_without_redis_py_one_process_serves_alone_and_several_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    missing = "redis-py is not installed (pip install 'eventbus[example,redis]')"
    assert example_main._redis_problem("redis://127.0.0.1:6379/0") == missing

    with pytest.raises(SystemExit) as exit_info:
        main(["--port", str(free_port()), "--workers", "3"])

    assert exit_info.value.code == 2
    assert missing in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:6379/0", "REDIS_URL 'http://127.0.0.1:6379/0' is not a Redis URL"),
        ("redis://:secret@127.0.0.1:{closed}/0", "at redis://:***@127.0.0.1:{closed}/0 ("),
    ],
    ids=["not-redis", "password-hidden"],
)
def test_what_is_said_about_a_redis_url_that_does_not_answer(url: str, problem: str) -> None:
    closed = free_port()
    said = example_main._redis_problem(url.format(closed=closed))

    assert said is not None
    assert problem.format(closed=closed) in said
    assert "secret" not in said


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


#: FAKE_SERVE, reporting what DEBUG turned on instead of the transport.
DEBUG_SERVE = FAKE_SERVE.replace(
    'print("transport", transport(), flush=True)',
    "from django.conf import settings; from example_asgi import asgi; "
    'print("debug", settings.DEBUG, "debug_toolbar" in settings.INSTALLED_APPS, '
    "type(asgi.application).__name__, flush=True)",
)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param((), "debug False False ASGIHandler", id="default"),
        pytest.param(("--debug",), "debug True True ASGIStaticFilesHandler", id="debug"),
    ],
)
def test_debug_turns_on_the_toolbar_and_serves_its_static_files(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    port, closed = free_port(), free_port()
    done = subprocess.run(
        [sys.executable, "-c", DEBUG_SERVE, "--port", str(port), *args],
        cwd=REPO,
        env={
            "EXAMPLE_ASGI_DB": str(tmp_path / "shop.sqlite3"),
            "REDIS_URL": f"redis://127.0.0.1:{closed}/0",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == expected
