"""Run ``vbauth`` as a real process on a fresh data directory, as ``make run`` would."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.mailbox import free_port
from vbauth.cli import app
from vbauth.limits.policy import TIERS
from vbauth.settings import get_settings


@dataclass(frozen=True)
class Server:
    base: str
    data_dir: Path
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None  # for tests that signal it

    def cli(self, *args: str) -> Any:
        """Run a ``vbauth`` command against this server's data and parse its ``--json`` output."""
        done = subprocess.run(
            [sys.executable, "-m", "vbauth", *args, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout)


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VBAUTH_")}
    env.update(
        {
            "VBAUTH_DATA_DIR": str(data_dir),
            "VBAUTH_ARGON2_MEMORY_KIB": "64",
            "VBAUTH_ARGON2_TIME_COST": "1",
            "VBAUTH_COOKIE_SECURE": "false",
            # Tests send many requests from one address: no limits unless a test sets them.
            **{f"VBAUTH_RATE_LIMIT_{tier.upper()}": "0" for tier in TIERS},
            **extra,
        }
    )
    return env


@contextmanager
def running_server(data_dir: Path, *, workers: int = 1, **extra_env: str) -> Iterator[Server]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(data_dir, VBAUTH_PUBLIC_URL=base, **extra_env)
    log = data_dir / "server.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vbauth",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(base, process)
            yield Server(base, data_dir, log, env, process)
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(f"{base}/ping", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not come up in 30 s")


def cli(server: Server, *args: str) -> tuple[int, str]:
    """``vbauth ...`` against ``server`` in this process (a subprocess costs seconds of
    imports): its exit code and output. Only from synchronous tests (it runs its own loop)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(server.env)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
    return result.exit_code, result.output


@contextmanager
def running_pair(
    tmp_path_factory: pytest.TempPathFactory, name: str, **shared_env: str
) -> Iterator[tuple[Server, Server]]:
    """Two instances of one deployment: one database (in the first's data dir) and one
    installation secret, with ``shared_env`` on both (Redis, say)."""
    first_dir = tmp_path_factory.mktemp(f"{name}-a")
    env = {
        "VBAUTH_JWT_SECRET": secrets.token_urlsafe(48),
        "VBAUTH_DATABASE_URL": f"sqlite+aiosqlite:///{first_dir / 'vbauth.db'}",
        **shared_env,
    }
    with (
        running_server(first_dir, **env) as first,
        running_server(tmp_path_factory.mktemp(f"{name}-b"), **env) as second,
    ):
        yield first, second


def start_nginx(config: Path) -> subprocess.Popen[bytes]:
    """Debian's nginx, in the foreground, with ``config``'s directory as its prefix (its relative
    paths: logs/, the pid file)."""
    prefix = config.parent
    (prefix / "logs").mkdir(exist_ok=True)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return subprocess.Popen(
        [
            nginx,
            "-p",
            str(prefix),
            "-c",
            str(config),
            "-g",
            f"daemon off; user root; pid {prefix}/nginx.pid;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
