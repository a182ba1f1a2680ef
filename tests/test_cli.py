"""The ``vbauth`` command, run in-process against the test database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.factories import PASSWORD, unique_email
from vbauth.cli import app
from vbauth.runtime import Runtime
from vbauth.services import mail
from vbauth.settings import Settings, get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[None]:
    monkeypatch.setenv("VBAUTH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("VBAUTH_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VBAUTH_JWT_SECRET", settings.jwt_secret.get_secret_value())  # type: ignore[union-attr]
    monkeypatch.setenv("VBAUTH_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("VBAUTH_ARGON2_TIME_COST", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def invoke(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.output


def test_customer_create_prints_the_customer_and_its_admin_as_json() -> None:
    email = unique_email("cli")
    code, output = invoke(
        "customer",
        "create",
        "--email",
        email,
        "--name",
        "Acme",
        "--admin-password",
        PASSWORD,
        "--json",
    )
    assert code == 0, output
    body = json.loads(output)
    assert set(body) == {"customer", "agent"}
    assert body["customer"]["status"] == "active"
    assert body["customer"]["name"] == "Acme"
    assert body["agent"]["username"] == email
    assert body["agent"]["permission"] == 32
    assert body["agent"]["customer_id"] == body["customer"]["id"]
    assert "password" not in output


def test_customer_create_refuses_a_taken_email_with_a_clear_error() -> None:
    email = unique_email("cli")
    assert invoke("customer", "create", "--email", email, "--admin-password", PASSWORD)[0] == 0
    code, output = invoke("customer", "create", "--email", email, "--admin-password", PASSWORD)
    assert code == 1
    assert "ALREADY_EXISTS" in output
    assert "Traceback" not in output


def test_customer_create_refuses_a_short_password() -> None:
    code, output = invoke(
        "customer", "create", "--email", unique_email(), "--admin-password", "short"
    )
    assert code == 1
    assert "at least 8" in output


def test_bootstrap_takes_the_password_from_the_environment_and_is_idempotent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VBAUTH_BOOTSTRAP_PASSWORD", PASSWORD)
    username = unique_email("root")
    code, output = invoke("bootstrap", "--username", username, "--json")
    assert code == 0, output
    first = json.loads(output)
    assert first["created"] is True
    assert first["agent"]["permission"] & 1
    code, output = invoke("bootstrap", "--username", username, "--json")
    again = json.loads(output)
    assert again["created"] is False
    assert again["agent"]["id"] == first["agent"]["id"]


def test_bootstrap_asks_for_the_password_when_none_is_given() -> None:
    code, output = invoke(
        "bootstrap", "--username", unique_email("root"), input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert code == 0, output
    assert "created" in output


def test_agent_create_adds_an_agent_to_a_customer() -> None:
    _, output = invoke(
        "customer", "create", "--email", unique_email(), "--admin-password", PASSWORD, "--json"
    )
    customer_id = json.loads(output)["customer"]["id"]
    username = unique_email("agent")
    code, output = invoke(
        "agent",
        "create",
        "--customer-id",
        customer_id,
        "--username",
        username,
        "--password",
        PASSWORD,
        "--permission",
        "64",
        "--json",
    )
    assert code == 0, output
    agent = json.loads(output)["agent"]
    assert (agent["username"], agent["permission"], agent["customer_id"]) == (
        username,
        64,
        customer_id,
    )


def test_migrate_reports_an_up_to_date_database() -> None:
    code, output = invoke("migrate")
    assert code == 0
    assert "up to date" in output


def test_the_human_output_is_a_table() -> None:
    code, output = invoke(
        "customer", "create", "--email", unique_email(), "--admin-password", PASSWORD
    )
    assert code == 0
    assert "customer" in output and "agent" in output and "│" in output


def test_expire_unverified_reports_what_it_did() -> None:
    code, output = invoke("expire-unverified")
    assert code == 0
    assert re.search(r"expired \d+ unverified signup", output)


def test_outbox_lists_recent_mail_and_shows_bodies_only_when_asked(settings: Settings) -> None:
    recipient = unique_email("mail")

    async def enqueue() -> None:
        runtime = Runtime.build(settings)
        async with runtime.transaction() as session:
            mail.enqueue(
                session, purpose="test", recipient=recipient, subject="Hello", body="the body"
            )
        await runtime.close()

    asyncio.run(enqueue())
    code, output = invoke("outbox", "--json")
    assert code == 0
    [listed] = [m for m in json.loads(output) if m["to"] == recipient]
    assert (listed["subject"], listed["status"]) == ("Hello", "pending")
    assert "body" not in listed
    _, output = invoke("outbox", "--json", "--body")
    assert [m["body"] for m in json.loads(output) if m["to"] == recipient] == ["the body"]


def test_bootstrap_never_promotes_an_existing_customer_agent() -> None:
    email = unique_email("squatter")
    assert invoke("customer", "create", "--email", email, "--admin-password", PASSWORD)[0] == 0
    code, output = invoke("bootstrap", "--username", email, "--password", PASSWORD)
    assert code == 1
    assert "AGENT_USERNAME_TAKEN" in output


def test_agent_create_in_an_unknown_customer_says_so() -> None:
    code, output = invoke(
        "agent",
        "create",
        "--customer-id",
        str(uuid.uuid4()),
        "--username",
        unique_email(),
        "--password",
        PASSWORD,
    )
    assert code == 1
    assert "CUSTOMER_NOT_FOUND" in output


def test_outbox_bodies_keep_long_links_whole_and_markup_literal(settings: Settings) -> None:
    recipient = unique_email("link")
    link = "http://127.0.0.1:8000/auth/email-verify?token=" + "ab12" * 16
    body = f"Follow {link} to verify. [bold]Not markup[/bold]"

    async def enqueue() -> None:
        runtime = Runtime.build(settings)
        async with runtime.transaction() as session:
            mail.enqueue(session, purpose="test", recipient=recipient, subject="Hi", body=body)
        await runtime.close()

    asyncio.run(enqueue())
    code, output = invoke("outbox", "--body", "--limit", "1")  # a terminal 80 columns wide
    assert code == 0
    assert link in output.splitlines()[-1]
    assert "[bold]Not markup[/bold]" in output


def test_unusable_settings_stop_the_command_naming_them_but_never_their_values(
    tmp_path: Path,
) -> None:
    secret = "Zq8#kLm2shortbutsecret"  # too short to sign with
    env = {k: v for k, v in os.environ.items() if not k.startswith("VBAUTH_")}
    env |= {"VBAUTH_JWT_SECRET": secret, "VBAUTH_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "vbauth", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "VBAUTH_JWT_SECRET" in done.stderr
    assert "Traceback" not in done.stderr
    assert secret not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VBAUTH_SMTP_URL", "smtp://mailer:hunter2secret@host:notaport"),
        ("VBAUTH_SMTP_URL", "ftp://mailer:hunter2secret@host"),
        ("VBAUTH_REDIS_URL", "http://user:hunter2secret@host"),
        ("VBAUTH_DATABASE_URL", "mysql://user:hunter2secret@host/db"),
        ("VBAUTH_ROUTES_FILE", "/nonexistent/routes.toml"),
        ("VBAUTH_DIRECT_SCOPES", '{"hunter2secret'),
    ],
)
def test_unusable_urls_and_files_stop_the_command_with_their_name(
    tmp_path: Path, name: str, value: str
) -> None:
    # A newcomer's walkthrough got a traceback (exit 1) for each of these.
    env = {k: v for k, v in os.environ.items() if not k.startswith("VBAUTH_")}
    env |= {"VBAUTH_DATA_DIR": str(tmp_path), name: value}
    done = subprocess.run(
        [sys.executable, "-m", "vbauth", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert name in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert "hunter2secret" not in done.stderr + done.stdout
