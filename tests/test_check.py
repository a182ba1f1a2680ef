"""``vbauth check``: every part a configuration depends on, asked and answered in plain words;
exit status 0 only when all is well. Real SQLite, Redis and an SMTP server; nothing changed."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

from tests.mailbox import free_port, smtp_server
from tests.server import Server, cli, environment

SECRET = secrets.token_urlsafe(48)


def run_check(data_dir: Path, **env: str) -> tuple[int, dict[str, dict[str, object]]]:
    server = Server(
        "http://127.0.0.1:1", data_dir, data_dir / "unused.log", environment(data_dir, **env)
    )
    code, output = cli(server, "check", "--json")
    return code, {finding["part"]: finding for finding in json.loads(output)}


def test_a_fresh_install_is_told_what_to_do_and_a_ready_one_passes(tmp_path: Path) -> None:
    code, found = run_check(tmp_path)
    assert code == 1
    assert not found["installation secret"]["ok"]
    assert "VBAUTH_JWT_SECRET" in str(found["installation secret"]["problem"])
    assert not found["database"]["ok"]
    assert "no database at" in str(found["database"]["problem"])
    assert "vbauth migrate" in str(found["database"]["problem"])
    assert not (tmp_path / "jwt_secret").exists()  # a check changes nothing
    assert not (tmp_path / "vbauth.db").exists()
    server = Server("", tmp_path, tmp_path / "x", environment(tmp_path, VBAUTH_JWT_SECRET=SECRET))
    assert cli(server, "migrate")[0] == 0
    code, found = run_check(tmp_path, VBAUTH_JWT_SECRET=SECRET)
    assert code == 0, found
    assert all(finding["ok"] for finding in found.values())
    assert set(found) >= {"installation secret", "database", "migrations", "signing keys", "routes"}


def test_unreachable_redis_and_smtp_are_named(tmp_path: Path) -> None:
    server = Server("", tmp_path, tmp_path / "x", environment(tmp_path, VBAUTH_JWT_SECRET=SECRET))
    assert cli(server, "migrate")[0] == 0
    closed = free_port()
    code, found = run_check(
        tmp_path,
        VBAUTH_JWT_SECRET=SECRET,
        VBAUTH_REDIS_URL=f"redis://127.0.0.1:{closed}/0",
        VBAUTH_SMTP_URL=f"smtp://127.0.0.1:{closed}",
    )
    assert code == 1
    assert "VBAUTH_REDIS_URL" in str(found["redis"]["problem"])
    assert "VBAUTH_SMTP_URL" in str(found["smtp"]["problem"])
    with smtp_server() as (_box, port):
        code, found = run_check(
            tmp_path,
            VBAUTH_JWT_SECRET=SECRET,
            VBAUTH_REDIS_URL="redis://127.0.0.1:6379/0",
            VBAUTH_SMTP_URL=f"smtp://127.0.0.1:{port}",
        )
    assert code == 0, found
    assert found["redis"]["ok"] and found["smtp"]["ok"]


def test_a_broken_routes_file_is_a_settings_problem(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text("[[route]]\nprefix = 42\n")
    code, found = run_check(tmp_path, VBAUTH_JWT_SECRET=SECRET, VBAUTH_ROUTES_FILE=str(routes))
    assert code == 2  # unusable settings: as any command says them
    assert "VBAUTH_ROUTES_FILE" in str(found["settings"]["problem"])


def test_an_unusable_data_dir_or_a_database_that_is_down_is_one_line(tmp_path: Path) -> None:
    env = environment(tmp_path)
    for extra, code, words in (
        ({"VBAUTH_DATA_DIR": "/proc/vbauth"}, 2, "cannot create /proc/vbauth"),
        (
            {"VBAUTH_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x"},
            1,
            "the database does not answer",
        ),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "vbauth", "migrate"],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == code, done.stderr
        assert words in done.stderr and "Traceback" not in done.stderr
