"""The ``vbauth`` command: serve, migrate, and operator tasks."""

from __future__ import annotations

import asyncio
import json
import logging.config
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import checkup, clock, migrate
from vbauth.api.jwks import JWKS_PATH
from vbauth.clock import format_timestamp
from vbauth.db import database_unavailable
from vbauth.demo import DEMO_AUDIENCE, create_demo_app
from vbauth.events.hub import MAX_FRAME_BYTES
from vbauth.gateway.identity_header import upstream_keys
from vbauth.gateway.remote_keys import RemoteKeys
from vbauth.logs import log_config
from vbauth.runtime import Runtime, check_usable, load_jwt_secret, upstream_secret_for
from vbauth.schemas import AgentOut, AuditEventOut, CustomerAdminOut
from vbauth.security.tokens import EDDSA, KeyRing
from vbauth.services import agents, audit, customers, mail, operator, signing_keys
from vbauth.services.errors import ServiceError
from vbauth.services.pages import Page
from vbauth.serving import flush_logs_before_dying
from vbauth.settings import Settings, SettingsError, get_settings

app = typer.Typer(
    help="vbauth: API authentication service.", no_args_is_help=True, pretty_exceptions_enable=False
)
customer_app = typer.Typer(help="Manage customers.", no_args_is_help=True)
agent_app = typer.Typer(help="Manage agents.", no_args_is_help=True)
app.add_typer(customer_app, name="customer")
app.add_typer(agent_app, name="agent")
signing_key_app = typer.Typer(
    help="Manage the Ed25519 keys that sign tokens (VBAUTH_JWT_ALGORITHM=EdDSA).",
    no_args_is_help=True,
)
app.add_typer(signing_key_app, name="signing-key")

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


def main() -> None:
    """The ``vbauth`` command: unusable settings end it with their reasons, not a traceback."""
    try:
        app()
    except SettingsError as error:
        errors.print(f"error: {error}")
        raise SystemExit(2) from None
    except Exception as error:
        if not database_unavailable(error):
            raise
        # A database that is down or refuses us is an operator's matter, not a bug: one line.
        errors.print(
            f"error: the database does not answer ({type(error).__name__}); check "
            "VBAUTH_DATABASE_URL and that the server is up (vbauth check says more)"
        )
        raise SystemExit(1) from None


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Apply migrations, then serve the API."""
    settings = get_settings()
    # Logging as the server will have it from the start: what preparing says is a line of the
    # same log, in the same format (uvicorn sets the same configuration again).
    logging.config.dictConfig(log_config(settings.log_format))
    if workers > 1 and settings.metrics.get_secret_value() != "off":
        _share_metrics(settings.data_dir)
    # Migrates, then makes the installation secret and (EdDSA) the first signing key once
    # here, before workers could race to make them.
    _run_runtime(lambda runtime: runtime.start())
    flush_logs_before_dying()
    uvicorn.run(
        "vbauth.app:make_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvicorn's access log prints query strings whole, credentials included;
        # vbauth logs its own line per request with credentials cut to a prefix.
        access_log=False,
        # A frame bigger than any valid request is refused by the protocol layer before it is
        # read whole (uvicorn's default would buffer 16 MiB per frame).
        ws_max_size=MAX_FRAME_BYTES,
        ws="vbauth.serving:GoingAwayWebSockets",  # sockets closed with 1001 at shutdown
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=max(settings.ws_silence_timeout - settings.ws_ping_interval, 1.0),
        log_config=log_config(settings.log_format),
        proxy_headers=False,
        server_header=False,
    )


@app.command("demo-upstream")
def demo_upstream(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 9000,
    audience: Annotated[
        str, typer.Option(help="The audience its routes give it (routes.toml `audience`).")
    ] = DEMO_AUDIENCE,
    jwks_url: Annotated[
        str | None, typer.Option(help="vbauth's JWKS (default: VBAUTH_PUBLIC_URL's).")
    ] = None,
) -> None:
    """Serve the demo upstream (calls, aicalls) on its own, e.g. behind nginx and /auth/verify.

    With EdDSA keys it verifies identity headers with vbauth's JWKS (at VBAUTH_PUBLIC_URL);
    with HS256, or VBAUTH_UPSTREAM_SECRET set, with the shared upstream secret.
    """
    settings = get_settings()
    keys: KeyRing | RemoteKeys
    if settings.jwt_algorithm == EDDSA and settings.upstream_secret is None:
        keys = RemoteKeys(jwks_url or settings.public_url + JWKS_PATH, issuer=settings.jwt_issuer)
    else:
        keys = upstream_keys(
            upstream_secret_for(settings, load_jwt_secret(settings)), settings.jwt_issuer
        )
    uvicorn.run(
        create_demo_app(keys, audience=audience),
        host=host,
        port=port,
        log_config=log_config(settings.log_format),
        access_log=False,
        server_header=False,
    )


def _share_metrics(data_dir: Path) -> None:
    """Workers write their figures to files a scrape of any of them adds up (prometheus-client's
    multiprocess mode), in a directory emptied at each start; unless the operator chose one."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    directory = data_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)  # inherited by the workers


@app.command("check")
def check_command(as_json: JsonOption = False) -> None:
    """Check this configuration: secret, database, migrations, Redis, routes, SMTP, signing
    keys. Changes nothing; exits 0 only when all is well."""
    findings = checkup.check(get_settings())
    if as_json:
        shown = [
            {"part": f.part, "ok": f.ok, "problem": f.problem, "note": f.advice} for f in findings
        ]
        typer.echo(json.dumps(shown, indent=2))
    else:
        for finding in findings:
            mark = "[green]ok[/green]     " if finding.ok else "[red]problem[/red]"
            words = finding.problem or finding.advice
            console.print(f"{mark}  [bold]{finding.part}[/bold]" + (f": {words}" if words else ""))
    if any(finding.part == "settings" and not finding.ok for finding in findings):
        raise typer.Exit(2)  # unusable settings: exit 2, as every command gives them
    if not all(finding.ok for finding in findings):
        raise typer.Exit(1)


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date."""
    settings = get_settings()
    check_usable(settings)
    migrate.upgrade(settings.effective_database_url)
    errors.print("[green]database is up to date[/green]")


@app.command()
def bootstrap(
    username: Annotated[str, typer.Option(help="The superadmin's username (an email).")],
    password: Annotated[
        str | None, typer.Option(help="Or VBAUTH_BOOTSTRAP_PASSWORD, or asked for.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create the platform superadmin (or reset its password when it exists)."""
    settings = get_settings()
    secret = password or (
        settings.bootstrap_password and settings.bootstrap_password.get_secret_value()
    )
    if not secret:
        secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    agent, created = _run(
        lambda session, runtime: operator.bootstrap_superadmin(
            session, passwords=runtime.passwords, username=username, password=secret
        )
    )
    _show({"agent": AgentOut.model_validate(agent), "created": created}, as_json)


@customer_app.command("create")
def customer_create(
    email: Annotated[str, typer.Option()],
    admin_password: Annotated[
        str, typer.Option(help="Password of the customer's first admin (username = email).")
    ],
    name: Annotated[str, typer.Option()] = "",
    as_json: JsonOption = False,
) -> None:
    """Create an active customer and its first admin agent."""
    customer, agent = _run(
        lambda session, runtime: customers.create(
            session,
            by=None,
            passwords=runtime.passwords,
            email=email,
            admin_password=admin_password,
            name=name,
        )
    )
    _show(
        {
            "customer": CustomerAdminOut.model_validate(customer),
            "agent": AgentOut.model_validate(agent),
        },
        as_json,
    )


@agent_app.command("create")
def agent_create(
    customer_id: Annotated[uuid.UUID, typer.Option()],
    username: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option()],
    permission: Annotated[int, typer.Option(help="Permission bits, e.g. 16, 32, 64.")] = 16,
    name: Annotated[str, typer.Option()] = "",
    as_json: JsonOption = False,
) -> None:
    """Create an agent in a customer."""
    agent = _run(
        lambda session, runtime: agents.insert(
            session,
            passwords=runtime.passwords,
            customer_id=customer_id,
            username=username,
            password=password,
            permission=permission,
            name=name,
        )
    )
    _show({"agent": AgentOut.model_validate(agent)}, as_json)


@app.command()
def outbox(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    body: Annotated[bool, typer.Option("--body", help="Show bodies still kept.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List recent mail: sent over SMTP, or kept here when no SMTP server is set."""
    messages = _run(lambda session, _runtime: mail.recent(session, limit=limit))
    rows = [
        {
            "id": str(m.id),
            "status": m.status,
            "purpose": m.purpose,
            "to": m.recipient,
            "subject": m.subject,
            "created": format_timestamp(m.tm_create),
            **({"body": m.body} if body else {}),
        }
        for m in messages
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("created", "status", "to", "subject", title="outbox")
    for row in rows:
        table.add_row(row["created"], row["status"], row["to"], row["subject"])
    console.print(table)
    if body:
        for row in rows:
            # Plain, unwrapped text: a mailed link must survive a narrow terminal or a pipe,
            # and a body is not Rich markup.
            console.print(f"\n{row['id']} {row['subject']}", markup=False)
            console.print(row["body"], markup=False, soft_wrap=True)


@app.command("audit")
def audit_command(
    customer_id: Annotated[uuid.UUID | None, typer.Option(help="One customer's entries.")] = None,
    type: Annotated[str | None, typer.Option("--type", help="One type, e.g. login_failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """The audit log, newest first."""
    if type is not None and type not in audit.TYPES:
        errors.print(f"[red]error:[/red] unknown type; one of {', '.join(sorted(audit.TYPES))}")
        raise typer.Exit(2)
    listing = _run(
        lambda session, _runtime: audit.list_page(
            session, customer_id=customer_id, page=Page.of(limit, None), type=type
        )
    )
    rows = [AuditEventOut.of(row).model_dump(mode="json") for row in listing.items]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("time", "type", "customer", "actor", "ip", "details", title="audit log")
    for row in rows:
        actor = row["actor"]
        table.add_row(
            row["tm_create"],
            row["type"],
            str(row["customer_id"] or "-"),
            f"{actor['kind']} {actor['username'] or actor['id'] or ''}".strip(),
            row["ip"],
            json.dumps(row["details"]),
        )
    console.print(table)


@app.command("purge-frozen")
def purge_frozen() -> None:
    """Erase customers frozen for over 30 days (the server does this too)."""
    count = _run_runtime(lambda runtime: runtime.purge_frozen())
    errors.print(f"erased {count} frozen customer(s)")


@app.command("expire-unverified")
def expire_unverified() -> None:
    """Expire signups that did not verify their email in time (the server does this too)."""
    count = _run_runtime(lambda runtime: runtime.expire_unverified())
    errors.print(f"expired {count} unverified signup(s)")


@signing_key_app.command("rotate")
def signing_key_rotate(
    now: Annotated[
        bool,
        typer.Option(
            "--now",
            help="Sign with it at once (a leaked key): other instances may refuse its tokens "
            "until they load it, within the refresh interval.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Make a new signing key: published at once, signing once every instance has loaded it
    (twice VBAUTH_SIGNING_KEY_REFRESH_SECONDS: run this with the servers' settings).

    Older keys keep verifying the tokens they signed until they are retired.
    """
    settings = _eddsa_settings()
    delay = timedelta(seconds=0 if now else 2 * settings.signing_key_refresh_seconds)
    record = _run(
        lambda session, runtime: signing_keys.rotate(
            session, runtime.sealing_key, activate_after=delay
        )
    )
    _show({"kid": record.kid, "signs_from": format_timestamp(record.tm_activate)}, as_json)


@signing_key_app.command("retire")
def signing_key_retire(
    kid: Annotated[str, typer.Option(help="The key to retire (see `signing-key list`).")],
    as_json: JsonOption = False,
) -> None:
    """Retire a key: the tokens it signed fail, and the JWKS no longer publishes it."""
    _eddsa_settings()
    record = _run(lambda session, _runtime: signing_keys.retire(session, kid))
    _show(
        {"kid": record.kid, "retired": format_timestamp(record.tm_retire or record.tm_create)},
        as_json,
    )


@signing_key_app.command("list")
def signing_key_list(as_json: JsonOption = False) -> None:
    """Every key, with its state: signing, next (signs soon), verifying, or retired."""
    _eddsa_settings()

    async def listing(session: AsyncSession, _runtime: Runtime) -> list[dict[str, str | None]]:
        at = clock.now()
        signer = signing_keys.signer_of(await signing_keys.live_records(session), at)
        return [
            {
                "kid": record.kid,
                "algorithm": record.algorithm,
                "state": signing_keys.state_of(record, signer, at),
                "created": format_timestamp(record.tm_create),
                "signs_from": format_timestamp(record.tm_activate),
                "retired": format_timestamp(record.tm_retire) if record.tm_retire else None,
            }
            for record in await signing_keys.all_records(session)
        ]

    rows = _run(listing)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("kid", "state", "created", "signs from", "retired", title="signing keys")
    table.columns[0].no_wrap = True  # retire --kid needs it whole, however narrow the terminal
    table.columns[0].overflow = "ignore"
    for row in rows:
        table.add_row(
            row["kid"], row["state"], row["created"], row["signs_from"], row["retired"] or ""
        )
    console.print(table)


def _eddsa_settings() -> Settings:
    settings = get_settings()
    if settings.jwt_algorithm != EDDSA:
        errors.print(
            "[red]error:[/red] VBAUTH_JWT_ALGORITHM is HS256: tokens are signed with "
            "VBAUTH_JWT_SECRET; rotate it with VBAUTH_JWT_PREVIOUS_SECRETS"
        )
        raise typer.Exit(1)
    return settings


def _run(work: Callable[[AsyncSession, Runtime], Awaitable[T]]) -> T:
    """Run one service call in one transaction against the configured database."""

    async def in_transaction(runtime: Runtime) -> T:
        async with runtime.transaction() as session:
            return await work(session, runtime)

    return _run_runtime(in_transaction)


def _run_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Migrate, then run ``work`` with a runtime; a domain error exits 1 with its reason."""
    settings = get_settings()
    check_usable(settings)
    migrate.upgrade(settings.effective_database_url)

    async def main() -> T:
        runtime = Runtime.build(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except ServiceError as error:
        errors.print(f"[red]error:[/red] {error.reason}: {error.message}")
        raise typer.Exit(1) from error


def _show(result: dict[str, Any], as_json: bool) -> None:
    plain = {
        key: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        for key, value in result.items()
    }
    if as_json:
        typer.echo(json.dumps(plain, indent=2))
        return
    for key, value in plain.items():
        if not isinstance(value, dict):
            console.print(f"[bold]{key}[/bold]: {value}")
            continue
        table = Table(title=key, show_header=False)
        for field, item in value.items():
            table.add_row(field, "" if item is None else str(item))
        console.print(table)
