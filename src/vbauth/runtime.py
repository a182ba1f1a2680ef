"""The long-lived parts of a running vbauth, built once from settings by the app or the CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

import anyio
import redis.asyncio as redis
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.types import ASGIApp

from vbauth import clock, metrics
from vbauth.admin.protection import ConsoleProtection, console_key
from vbauth.authn import Authenticator, TtlCache
from vbauth.background import every
from vbauth.db import SessionFactory, make_engine, make_sessionmakers
from vbauth.demo import create_demo_app
from vbauth.events.bus import Bus, Invalidation, LocalBus, RedisBus
from vbauth.events.hub import Hub
from vbauth.events.model import Event
from vbauth.gateway.identity_header import (
    IdentitySigner,
    derive_events_secret,
    derive_upstream_secret,
    upstream_keys,
)
from vbauth.gateway.policies import RouteTable
from vbauth.gateway.proxy import Upstreams
from vbauth.limits.policy import Limits, limits_for, throttle_for
from vbauth.limits.throttle import LoginThrottle
from vbauth.mailer import Mailer, SmtpServer
from vbauth.reads import HotReads, hot_reads
from vbauth.security.passwords import Passwords
from vbauth.security.sealing import UnsealError, sealing_key
from vbauth.security.tokens import EDDSA, HS256, KeyRing
from vbauth.services import (
    accesskeys,
    accounts,
    audit,
    events,
    lifecycle,
    sessions,
    signing_keys,
)
from vbauth.settings import Network, Settings, SettingsError, check_secret_strength

log = logging.getLogger("vbauth")

SECRET_FILE = "jwt_secret"
SUPPORTED_DATABASES = frozenset({"sqlite+aiosqlite", "postgresql+asyncpg"})
MAIL_POLL_SECONDS = 5.0
SOCKET_RECHECK_SECONDS = 30.0  # catches expiries, and changes elsewhere when Redis is off


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    read_sessions: SessionFactory
    write_sessions: SessionFactory
    reads: HotReads
    keys: KeyRing
    passwords: Passwords
    authenticator: Authenticator
    trusted_networks: list[Network]
    sealing_key: bytes  # opens the private signing keys kept in the database (EdDSA)
    mailer: Mailer
    routes: RouteTable
    upstream_secret: str
    events_secret: str
    upstream_keys: KeyRing
    identity_signer: IdentitySigner
    upstreams: Upstreams
    hub: Hub
    bus: Bus
    limits: Limits
    login_throttle: LoginThrottle
    console: ConsoleProtection  # the admin console's cookies, CSRF tokens, sealed notices
    # Response bodies of hot reads, by ("me", agent id) or ("customer", customer id), for the
    # identity cache's TTL; every write transaction clears them (see transaction()).
    records: TtlCache = field(default_factory=TtlCache)
    _background_writes: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        check_usable(settings)
        engine = make_engine(settings.effective_database_url, timeout=settings.database_timeout)
        readers, writers = make_sessionmakers(engine)
        reads = hot_reads(settings.effective_database_url, timeout=settings.database_timeout)
        secret = load_jwt_secret(settings)
        if settings.jwt_algorithm == HS256:
            keys = KeyRing.from_secrets(
                secret,
                [s.get_secret_value() for s in settings.jwt_previous_secrets],
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
        else:
            # Filled from the database by start(), and kept current by refresh_signing_keys().
            keys = KeyRing(issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        passwords = Passwords(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            concurrency=settings.hash_concurrency,
            queue=settings.hash_queue,
        )
        authenticator = Authenticator(
            keys=keys,
            reads=reads,
            cache_ttl=settings.identity_cache_ttl,
            unverified_ttl=settings.unverified_ttl,
            direct_scopes=settings.direct_scopes,
        )
        upstream_secret = upstream_secret_for(settings, secret)
        identity_keys = (
            upstream_keys(upstream_secret, settings.jwt_issuer)
            if settings.jwt_algorithm == HS256 or settings.upstream_secret is not None
            # EdDSA: identity headers are signed like every token, and upstreams verify them
            # with the JWKS alone (their audience and type keep them apart from credentials).
            else keys
        )
        local_apps: dict[str, ASGIApp] = {}
        upstreams = Upstreams(
            timeout=settings.upstream_timeout,
            connect_timeout=settings.upstream_connect_timeout,
            local_apps=local_apps,
        )
        hub = Hub()
        redis_budget = settings.rate_limit_redis_timeout_ms / 1000
        runtime = cls(
            settings,
            engine,
            readers,
            writers,
            reads,
            keys,
            passwords,
            authenticator,
            settings.trusted_networks,
            sealing_key(secret),
            Mailer(sessions=writers, server=smtp_server(settings), sender=settings.mail_from),
            RouteTable.load(settings.routes_file),
            upstream_secret,
            events_secret_for(settings, secret),
            identity_keys,
            IdentitySigner(identity_keys),
            upstreams,
            hub,
            LocalBus(hub),
            limits_for(settings.rates(), settings.redis_url, redis_budget),
            throttle_for(settings.login_max_failures, settings.redis_url, redis_budget),
            ConsoleProtection(console_key(secret), secure=settings.cookie_secure),
        )
        if settings.redis_url:
            runtime.bus = RedisBus(settings.redis_url, hub, runtime.remote_invalidation)
        runtime.limits.on_refused = runtime.note_rate_limited
        # The demo upstream is served in process and publishes its events straight in.
        local_apps["demo"] = create_demo_app(identity_keys, publish=runtime.publish_upstream_event)
        runtime.routes.require_local_apps(local_apps)
        return runtime

    async def start(self) -> None:
        """Load what lives in the database before the first request: the signing keys."""
        if self.settings.jwt_algorithm == EDDSA:
            async with self.transaction() as session:
                await signing_keys.ensure_one(session, self.sealing_key)
            await self.refresh_signing_keys()

    async def refresh_signing_keys(self) -> None:
        """Verify with every live key in the database; sign with the one active now."""
        async with self.transaction(write=False) as session:
            try:
                loaded = await signing_keys.load(session, self.sealing_key)
            except UnsealError:
                raise SettingsError(
                    "the signing keys in the database do not open with this installation's "
                    "secret (VBAUTH_JWT_SECRET, or jwt_secret in the data dir): every instance "
                    "needs the secret the keys were made with"
                ) from None
        if loaded.current is None:
            # Nothing left to sign with (every key retired by hand): keep what this instance
            # has rather than answer every login with an error.
            log.error("no live signing key in the database; run `vbauth signing-key rotate`")
            return
        before = self.keys.kids
        self.keys.replace(loaded.keys, loaded.current)
        if self.keys.kids != before:
            # Claims verified with a key now retired must not stay cached, and open sockets
            # whose credential it signed are checked again now, not at their next recheck.
            self.authenticator.claims_cache.invalidate()
            self.hub.request_recheck()
            log.info("signing keys: %s", ", ".join(sorted(self.keys.kids)))

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """One transaction: commit on success, roll back on any error.

        When a service marked the transaction as changing identities, the identity cache is
        cleared after the commit (see ``db.mark_identity_changed``).
        """
        factory = self.write_sessions if write else self.read_sessions
        async with factory() as session:
            async with session.begin():
                yield session
            if entries := session.info.pop(audit.COMMITTED_ENTRIES, None):
                audit.log_committed(entries)
            if session.info.pop("identity_changed", False):
                self.identities_changed()  # cached bodies too, here and (below) everywhere
                await self.bus.announce_invalidation()
            elif write:
                # Cached response bodies (GET /v1.0/me, /v1.0/customer) may show a row this
                # transaction changed: drop them here and on every other instance.
                self.records.invalidate()
                await self.bus.announce_invalidation("records")
            if session.info.pop("mail_enqueued", False):
                self.mailer.notify()
            for event in session.info.pop("events", []):
                await self.bus.publish(event)

    def identities_changed(self) -> None:
        """Forget cached identities and look at every open socket again."""
        self.authenticator.identity_cache.invalidate()
        self.records.invalidate()
        self.hub.request_recheck()

    def remote_invalidation(self, what: Invalidation) -> None:
        """Another instance committed a change: forget what it may have made stale."""
        if what == "records":
            self.records.invalidate()
        else:
            self.identities_changed()

    async def binding_of(
        self, customer_id: uuid.UUID, resource_type: str, object_id: str
    ) -> uuid.UUID | None:
        """The resource an upstream object is bound to (for direct-token subscriptions)."""
        async with self.transaction(write=False) as session:
            return await events.bound_to(
                session, customer_id=customer_id, resource_type=resource_type, object_id=object_id
            )

    async def publish_upstream_event(self, event: Event) -> None:
        """An upstream's event: remember what its object is bound to, then publish it."""
        async with self.transaction() as session:
            await events.remember_binding(session, event)
            events.record(session, event)

    async def flush_last_used(self) -> None:
        """Write the accesskey and login-session uses seen since the last flush, in one
        transaction."""
        uses = self.authenticator.take_last_used()
        seen = self.authenticator.take_last_seen()
        if uses or seen:
            async with self.transaction() as session:
                await accesskeys.record_last_used(session, uses)
                await sessions.record_last_seen(session, seen)

    async def expire_unverified(self) -> int:
        """Expire signups that did not verify in time; returns how many."""
        window = timedelta(seconds=self.settings.unverified_ttl)
        async with self.transaction() as session:
            expired = await accounts.expire_unverified(session, older_than=window)
        if expired:
            log.info("expired %d unverified signup(s)", len(expired))
        return len(expired)

    def note_rate_limited(self, tier: str, key: str) -> None:
        """Record a refusal in the audit log, once a minute per bucket and off the request's
        path: a flood must not turn into a flood of writes, nor wait for them."""
        metrics.rate_limited(tier)
        if not audit.first_in_a_while(("rate_limited", tier, key)):
            return
        customer_id = None
        details = {"tier": tier}
        if tier.startswith("v1_customer"):
            customer_id = uuid.UUID(key)
        else:
            details["client"] = key

        async def write() -> None:
            try:
                await audit.record_alone(
                    self.transaction, "rate_limited", customer_id=customer_id, details=details
                )
            except Exception:
                log.exception("could not record a rate_limited audit entry")

        task = asyncio.get_running_loop().create_task(write())
        self._background_writes.add(task)
        task.add_done_callback(self._background_writes.discard)

    async def prune_audit(self) -> int:
        cutoff = clock.now() - timedelta(days=self.settings.audit_retention_days)
        async with self.transaction() as session:
            return await audit.prune(session, older_than=cutoff)

    async def purge_frozen(self) -> int:
        """Erase customers frozen for longer than their grace period; returns how many."""
        async with self.transaction(write=False) as session:
            due = await lifecycle.due_for_purge(session)
        purged = 0
        for customer_id in due:  # one transaction each: one failure stops no other
            async with self.transaction() as session:
                purged += await lifecycle.purge_one(session, customer_id)
        if purged:
            log.info("erased %d customer(s) frozen for 30 days", purged)
        return purged

    async def run_background(self) -> None:
        """The periodic jobs of a serving process; runs until cancelled."""
        settings = self.settings
        async with anyio.create_task_group() as group:
            group.start_soon(self.mailer.run, MAIL_POLL_SECONDS)
            group.start_soon(self.bus.run)
            group.start_soon(self.hub.run_rechecks, self.authenticator, SOCKET_RECHECK_SECONDS)
            group.start_soon(
                partial(
                    every,
                    settings.expiry_sweep_seconds,
                    self.expire_unverified,
                    name="unverified expiry",
                )
            )
            group.start_soon(
                partial(
                    every, settings.expiry_sweep_seconds, self.purge_frozen, name="frozen purge"
                )
            )
            group.start_soon(partial(every, 3600, self.prune_audit, name="audit pruning"))
            if settings.jwt_algorithm == EDDSA:
                group.start_soon(
                    partial(
                        every,
                        settings.signing_key_refresh_seconds,
                        self.refresh_signing_keys,
                        name="signing-key refresh",
                    )
                )
            group.start_soon(
                partial(
                    every,
                    settings.last_used_flush_seconds,
                    self.flush_last_used,
                    name="last-used flush",
                )
            )

    async def close(self) -> None:
        await self.limits.close()
        await self.login_throttle.close()
        await self.bus.close()
        await self.upstreams.close()
        await self.flush_last_used()
        await self.reads.close()
        await self.engine.dispose()


def check_usable(settings: Settings) -> None:
    """Refuse, by name and never echoing a value, settings that would fail later with a
    traceback: URLs of the wrong shape or for a missing driver, an unreadable routes file."""
    problems = []
    try:
        driver = make_url(settings.effective_database_url).drivername
    except (ArgumentError, ValueError):
        driver = ""
    if driver not in SUPPORTED_DATABASES:
        problems.append(
            "VBAUTH_DATABASE_URL: not a usable database URL (sqlite+aiosqlite:/// or "
            "postgresql+asyncpg://)"
        )
    if settings.smtp_url is not None:
        try:
            SmtpServer.from_url(settings.smtp_url.get_secret_value())
        except ValueError:
            problems.append(
                "VBAUTH_SMTP_URL: not a usable smtp://, smtp+starttls:// or smtps:// URL"
            )
    if settings.redis_url:
        try:
            redis.ConnectionPool.from_url(settings.redis_url)
        except ValueError:
            problems.append("VBAUTH_REDIS_URL: not a usable redis:// URL")
    try:
        RouteTable.load(settings.routes_file)
    except (OSError, ValueError, KeyError, TypeError) as error:
        problems.append(f"VBAUTH_ROUTES_FILE: {type(error).__name__}: {error}")
    if problems:
        raise SettingsError("invalid settings: " + "; ".join(problems))


def upstream_secret_for(settings: Settings, jwt_secret: str) -> str:
    """What upstreams verify X-VB-Identity (and publish events) with: configured, or derived."""
    if settings.upstream_secret is not None:
        return settings.upstream_secret.get_secret_value()
    return derive_upstream_secret(jwt_secret)


def events_secret_for(settings: Settings, jwt_secret: str) -> str:
    """What upstreams publish events with: configured, or derived (not the identity secret)."""
    if settings.events_secret is not None:
        return settings.events_secret.get_secret_value()
    return derive_events_secret(jwt_secret)


def smtp_server(settings: Settings) -> SmtpServer | None:
    if settings.smtp_url is None:
        return None
    return SmtpServer.from_url(settings.smtp_url.get_secret_value())


def load_jwt_secret(settings: Settings) -> str:
    """The configured secret or, for a local run, one generated once and kept in the data dir."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    path = Path(settings.data_dir) / SECRET_FILE
    if path.exists():
        secret = path.read_text().strip()
        check_secret_strength(secret)
        return secret
    log.warning(
        "VBAUTH_JWT_SECRET is not set: generated one in %s (set it in production, and "
        "the same on every instance)",
        path,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # Created 0600 in one step, so the secret is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret
