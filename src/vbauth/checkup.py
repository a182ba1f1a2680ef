"""``vbauth check``: is this configuration one vbauth can run on? Asks every part it depends on
and says, in plain words, what is wrong; changes nothing (no migration, no key made)."""

from __future__ import annotations

import asyncio
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import make_url

from vbauth.health import bounded, readiness, redis_answers
from vbauth.mailer import SmtpServer
from vbauth.runtime import SECRET_FILE, Runtime, check_usable
from vbauth.security.sealing import UnsealError
from vbauth.services import signing_keys
from vbauth.settings import Settings, SettingsError, check_secret_strength

SMTP_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Finding:
    part: str
    problem: str = ""  # "" when it is fine
    advice: str = ""  # also for a part that is fine but could be better (a warning)

    @property
    def ok(self) -> bool:
        return not self.problem


def check(settings: Settings) -> list[Finding]:
    """Every finding, in the order an operator would fix them."""
    try:
        check_usable(settings)
    except SettingsError as error:
        return [Finding("settings", str(error))]
    secret = _secret(settings)
    findings = [secret]
    findings += asyncio.run(_services(settings, keys_checked=secret.ok))
    return findings


def _secret(settings: Settings) -> Finding:
    if settings.jwt_secret is not None:
        return Finding("installation secret")  # its strength was checked when settings loaded
    path = Path(settings.data_dir) / SECRET_FILE
    if not path.exists():
        return Finding(
            "installation secret",
            "VBAUTH_JWT_SECRET is not set and the data dir holds none: every instance must "
            "share one; generate 32+ random characters",
        )
    try:
        check_secret_strength(path.read_text().strip())
    except ValueError as error:
        return Finding("installation secret", f"{path}: {error}")
    return Finding(
        "installation secret",
        advice=f"kept in {path}; set VBAUTH_JWT_SECRET, the same on every instance",
    )


async def _services(settings: Settings, *, keys_checked: bool) -> list[Finding]:
    if not keys_checked:
        # Building a runtime without a secret would make one in the data dir: a check changes
        # nothing, so it talks to the database and Redis with a throwaway one instead.
        throwaway = SecretStr(secrets.token_urlsafe(48))
        settings = settings.model_copy(update={"jwt_secret": throwaway})
    missing = _missing_sqlite_file(settings)
    runtime = Runtime.build(settings)
    try:
        if missing is not None:
            # Opening it would create it: say so instead, and ask only what needs no database.
            findings = [Finding("database", f"no database at {missing} yet: vbauth migrate")]
            if settings.redis_url:
                redis = await bounded("redis", redis_answers(settings.redis_url))
                findings.append(Finding("redis", "" if redis.ok else _said("redis", redis.problem)))
        else:
            checks = await readiness(runtime)
            findings = [
                Finding(check.name, "" if check.ok else _said(check.name, check.problem))
                for check in checks
            ]
            if keys_checked and all(check.ok for check in checks if check.name != "redis"):
                findings.append(await _signing_keys(runtime))
        findings.append(Finding("routes", advice=f"{len(runtime.routes.policies)} route policies"))
        if settings.smtp_url is not None:
            findings.append(await _smtp(SmtpServer.from_url(settings.smtp_url.get_secret_value())))
        return findings
    finally:
        await runtime.close()


def _missing_sqlite_file(settings: Settings) -> Path | None:
    url = make_url(settings.effective_database_url)
    if not url.drivername.startswith("sqlite") or not url.database:
        return None
    path = Path(url.database)
    return None if path.exists() else path


def _said(part: str, problem: str) -> str:
    where = {
        "database": "VBAUTH_DATABASE_URL",
        "redis": "VBAUTH_REDIS_URL",
        "migrations": "the database",
    }
    return f"{where.get(part, part)}: {problem}"


async def _signing_keys(runtime: Runtime) -> Finding:
    if runtime.settings.jwt_algorithm != "EdDSA":
        return Finding("signing keys", advice="HS256: tokens are signed with the secret itself")
    try:
        async with runtime.transaction(write=False) as session:
            loaded = await signing_keys.load(session, runtime.sealing_key)
    except UnsealError:
        return Finding(
            "signing keys",
            "the keys in the database do not open with this installation secret: every "
            "instance needs the secret they were made with",
        )
    except Exception as error:  # no table yet: the migrations finding says why
        return Finding("signing keys", f"could not be read ({type(error).__name__})")
    if loaded.current is None:
        return Finding(
            "signing keys",
            advice="none yet: the first start makes one (or run vbauth signing-key rotate)",
        )
    return Finding("signing keys", advice=f"{len(loaded.keys)} live")


async def _smtp(server: SmtpServer) -> Finding:
    """Connect, greet, and (when set) log in; no mail is sent."""

    def talk() -> str:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if server.mode == "tls":
            client = smtplib.SMTP_SSL(
                server.host, server.port, timeout=SMTP_SECONDS, context=context
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=SMTP_SECONDS)
        with client:
            client.ehlo()
            if server.mode == "starttls":
                client.starttls(context=context)
            if server.username is not None:
                client.login(server.username, server.password or "")
        return ""

    check = await bounded("smtp", asyncio.to_thread(talk))
    if check.ok:
        return Finding("smtp", advice=f"{server.host}:{server.port} answers")
    return Finding("smtp", f"VBAUTH_SMTP_URL: {server.host}:{server.port} {check.problem}")
