"""The one credential pipeline: request -> credential -> identity (reference §4).

HTTP routes, and later the WebSocket, the gateway and forward-auth, all call
``find_credential`` and ``Authenticator.authenticate``; nothing else reads credentials.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, select

from vbauth import clock, metrics
from vbauth.identity import (
    AccesskeyIdentity,
    AgentIdentity,
    DelegateIdentity,
    DirectIdentity,
    Identity,
)
from vbauth.models import AccessKey, Agent, Customer, Delegation, Direct, LoginSession
from vbauth.permissions import SUPER_ADMIN_BIT
from vbauth.reads import AnySelect, HotReads, Row
from vbauth.security.keys import PREFIX as KEY_PREFIX
from vbauth.security.keys import hash_accesskey, looks_valid
from vbauth.security.tokens import InvalidToken, KeyRing
from vbauth.services.errors import InvalidCredentials, PermissionDenied

LOGIN_TOKEN_TYPE = "login"
DIRECT_TOKEN_TYPE = "direct"
DELEGATE_TOKEN_TYPE = "delegate"
DEAD_CUSTOMER_STATUSES = frozenset({"deleted", "expired"})
FROZEN_GRACE_DAYS = 30
PARSED_IDS = (
    " ids"  # a key no JSON claim of ours has: the token's ids, parsed (see _login_identity)
)


@dataclass(frozen=True, slots=True)
class Credential:
    kind: Literal["token", "accesskey"]
    value: str
    source: Literal["cookie", "query", "header"]

    def __repr__(self) -> str:  # a credential never reaches a log whole
        return f"Credential({self.kind}, {self.value[:11]}…, {self.source})"


def find_credential(
    headers: Mapping[str, str], cookies: Mapping[str, str], query: Mapping[str, str]
) -> Credential | None:
    """The first credential in the reference's order; later sources are not even looked at.

    Token sources come first (cookie, query, ``Authorization: Bearer``), then accesskey
    sources (cookie, query). A bad token therefore shadows a good accesskey, as in VoIPBIN.
    A Bearer value that starts with ``vb_`` is an accesskey, in the Bearer's place.
    """
    if value := cookies.get("token"):
        return Credential("token", value, "cookie")
    if value := query.get("token"):
        return Credential("token", value, "query")
    if value := bearer_token(headers.get("authorization", "")):
        return bearer_credential(value)
    if value := cookies.get("accesskey"):
        return Credential("accesskey", value, "cookie")
    if value := query.get("accesskey"):
        return Credential("accesskey", value, "query")
    return None


def bearer_credential(value: str) -> Credential:
    """``Authorization: Bearer vb_…`` is an accesskey, so keys can stay out of URLs."""
    kind: Literal["token", "accesskey"] = "accesskey" if value.startswith(KEY_PREFIX) else "token"
    return Credential(kind, value, "header")


def bearer_token(header: str) -> str:
    """The token of an RFC 6750 ``Authorization: Bearer <token>`` header, or ``""``."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


class TtlCache:
    """A small dict with per-entry expiry and a generation that invalidation bumps.

    A reader notes the generation before its database read and stores only if no invalidation
    happened meanwhile, so a read racing a revocation cannot re-cache the revoked state.
    """

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._max_entries = max_entries
        self.generation = 0

    def get(self, key: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: Any, value: Any, *, ttl: float, generation: int) -> None:
        if ttl <= 0 or generation != self.generation:
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()  # cheap and bounded; a cold cache only costs a DB read
        self._entries[key] = (time.monotonic() + ttl, value)

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()


class Authenticator:
    """Turns a credential into the caller's current identity, or raises ``InvalidCredentials``."""

    def __init__(
        self,
        *,
        keys: KeyRing,
        reads: HotReads,
        cache_ttl: float,
        unverified_ttl: float,
        direct_scopes: dict[str, list[str]],
    ) -> None:
        self._keys = keys
        self._reads = reads
        self._cache_ttl = cache_ttl
        self._unverified_ttl = timedelta(seconds=unverified_ttl)
        self._direct_scopes = direct_scopes
        self.claims_cache = TtlCache()  # verified JWT claims, by token, until their exp
        self.identity_cache = TtlCache()  # identities, by login session id or accesskey digest
        # Accesskey uses waiting to be written in one batch (see Runtime.flush_last_used).
        self.pending_last_used: dict[uuid.UUID, datetime] = {}
        self.pending_last_seen: dict[uuid.UUID, datetime] = {}  # login sessions, likewise

    async def authenticate(self, credential: Credential) -> Identity:
        if credential.kind == "accesskey":
            return await self._accesskey_identity(credential.value)
        claims = self._verified_claims(credential.value)
        if claims["typ"] == LOGIN_TOKEN_TYPE:
            return await self._login_identity(claims)
        if claims["typ"] == DIRECT_TOKEN_TYPE:
            return await self._direct_identity(claims)
        if claims["typ"] == DELEGATE_TOKEN_TYPE:
            return await self._delegate_identity(claims)
        raise InvalidCredentials()

    def take_last_used(self) -> dict[uuid.UUID, datetime]:
        taken, self.pending_last_used = self.pending_last_used, {}
        return taken

    def take_last_seen(self) -> dict[uuid.UUID, datetime]:
        taken, self.pending_last_seen = self.pending_last_seen, {}
        return taken

    def _verified_claims(self, token: str) -> dict[str, Any]:
        now = clock.wall_clock()
        claims = self.claims_cache.get(token)
        if claims is not None and claims["exp"] > now.timestamp():
            return claims  # type: ignore[no-any-return]
        try:
            claims = self._keys.read(token, at=now)
        except InvalidToken as error:
            raise InvalidCredentials() from error
        ttl = claims["exp"] - now.timestamp()
        self.claims_cache.put(token, claims, ttl=ttl, generation=self.claims_cache.generation)
        return claims

    async def _login_identity(self, claims: dict[str, Any]) -> AgentIdentity:
        # Parsed once per token and kept with its cached claims: a UUID costs microseconds.
        ids = claims.get(PARSED_IDS)
        if ids is None:
            try:
                ids = claims[PARSED_IDS] = (uuid.UUID(str(claims["sid"])), uuid.UUID(claims["sub"]))
            except (KeyError, ValueError) as error:
                raise InvalidCredentials() from error
        session_id, agent_id = ids
        identity = await self._cached_or_loaded(
            session_id, lambda: self._load_login_identity(session_id, agent_id)
        )
        if not isinstance(identity, AgentIdentity) or identity.agent_id != agent_id:
            raise InvalidCredentials()
        self.pending_last_seen[session_id] = clock.wall_clock()
        return identity

    async def _direct_identity(self, claims: dict[str, Any]) -> DirectIdentity:
        """A booted token is good while its hash lives on at the generation it was booted from."""
        try:
            direct_id, generation = uuid.UUID(claims["sub"]), claims["gen"]
        except (KeyError, ValueError) as error:
            raise InvalidCredentials() from error
        if isinstance(generation, bool) or not isinstance(generation, int):
            raise InvalidCredentials()
        key = ("direct", direct_id, generation)
        identity = await self._cached_or_loaded(
            key, lambda: self._load_direct(direct_id, generation)
        )
        if not isinstance(identity, DirectIdentity):
            raise InvalidCredentials()
        return identity

    async def _delegate_identity(self, claims: dict[str, Any]) -> DelegateIdentity:
        """Good while its delegation lives and its superadmin still holds the bit."""
        try:
            delegation_id, agent_id = uuid.UUID(str(claims["did"])), uuid.UUID(claims["sub"])
        except (KeyError, ValueError) as error:
            raise InvalidCredentials() from error
        key = ("delegate", delegation_id)
        identity = await self._cached_or_loaded(
            key, lambda: self._load_delegate(delegation_id, agent_id)
        )
        if not isinstance(identity, DelegateIdentity):
            raise InvalidCredentials()
        return identity

    async def _load_delegate(
        self, delegation_id: uuid.UUID, agent_id: uuid.UUID
    ) -> DelegateIdentity:
        row = await self._first_row(
            DELEGATE_IDENTITY_QUERY, {"delegation_id": delegation_id, "agent_id": agent_id}
        )
        if (
            row["tm_revoke"] is not None
            or row["agent_tm_delete"] is not None
            or not row["permission"] & SUPER_ADMIN_BIT
        ):
            raise InvalidCredentials()
        return DelegateIdentity(
            delegation_id=row["delegation_id"],
            customer_id=row["customer_id"],
            delegated_by=row["agent_id"],
            username=row["username"],
            reason=row["reason"],
            customer_status=row["customer_status"],
            deletion_scheduled=row["customer_tm_deletion_scheduled"],
            valid_until=self._valid_until(row, row["tm_expire"]),
        )

    async def _accesskey_identity(self, token: str) -> AccesskeyIdentity:
        if not looks_valid(token):
            raise InvalidCredentials()  # a typo or a JWT: no database lookup needed
        digest = hash_accesskey(token)
        identity = await self._cached_or_loaded(digest, lambda: self._load_accesskey(digest))
        if not isinstance(identity, AccesskeyIdentity):  # keys are str digests, sessions UUIDs
            raise InvalidCredentials()
        self.pending_last_used[identity.accesskey_id] = clock.now()
        return identity

    async def _cached_or_loaded(
        self, key: object, load: Callable[[], Awaitable[Identity]]
    ) -> Identity:
        """The cached identity while it is valid, else a fresh one from the database."""
        identity = self.identity_cache.get(key)
        if identity is None:
            metrics.identity_cache("miss")
            generation = self.identity_cache.generation
            identity = await load()
            self.identity_cache.put(key, identity, ttl=self._cache_ttl, generation=generation)
        else:
            metrics.identity_cache("hit")
        if identity.valid_until is not None and identity.valid_until <= clock.wall_clock():
            raise InvalidCredentials()
        return identity

    async def _load_login_identity(
        self, session_id: uuid.UUID, agent_id: uuid.UUID
    ) -> AgentIdentity:
        row = await self._first_row(
            LOGIN_IDENTITY_QUERY, {"session_id": session_id, "agent_id": agent_id}
        )
        if row["tm_revoke"] is not None or row["agent_tm_delete"] is not None:
            raise InvalidCredentials()
        return AgentIdentity(
            agent_id=row["agent_id"],
            customer_id=row["customer_id"],
            session_id=row["session_id"],
            permission=row["permission"],
            username=row["username"],
            customer_status=row["customer_status"],
            deletion_scheduled=row["customer_tm_deletion_scheduled"],
            valid_until=self._valid_until(row, row["tm_expire"]),
            session_started=row["session_started"],
            unverified_signup=_unverified(row),
        )

    async def _load_accesskey(self, digest: str) -> AccesskeyIdentity:
        row = await self._first_row(ACCESSKEY_IDENTITY_QUERY, {"digest": digest})
        return AccesskeyIdentity(
            accesskey_id=row["accesskey_id"],
            customer_id=row["customer_id"],
            token_prefix=row["token_prefix"],
            customer_status=row["customer_status"],
            deletion_scheduled=row["customer_tm_deletion_scheduled"],
            valid_until=self._valid_until(row, row["tm_expire"]),
            unverified_signup=_unverified(row),
        )

    async def _load_direct(self, direct_id: uuid.UUID, generation: int) -> DirectIdentity:
        row = await self._first_row(
            DIRECT_IDENTITY_QUERY, {"direct_id": direct_id, "generation": generation}
        )
        allowed = self._direct_scopes.get(row["resource_type"])
        if not allowed:
            raise InvalidCredentials()  # the type was unbooted by configuration since
        return DirectIdentity(
            direct_id=row["direct_id"],
            customer_id=row["customer_id"],
            resource_type=row["resource_type"],
            resource_id=row["resource_id"],
            allowed_resource_types=tuple(allowed),
            customer_status=row["customer_status"],
            deletion_scheduled=row["customer_tm_deletion_scheduled"],
            valid_until=self._valid_until(row, None),
        )

    async def _first_row(self, query: AnySelect, params: dict[str, Any]) -> Row:
        """The credential's row, read outside any request transaction; none means invalid."""
        row = await self._reads.first(query, params)
        if row is None:
            raise InvalidCredentials()
        return row

    def _valid_until(self, row: Row, credential_expiry: datetime | None) -> datetime | None:
        """When a credential stops working: its own expiry, or its customer's end.

        A deleted or expired customer ends now. An unverified signup ends when its verification
        window closes, even if the expiry job has not run yet.
        """
        if (
            row["customer_tm_delete"] is not None
            or row["customer_status"] in DEAD_CUSTOMER_STATUSES
        ):
            raise InvalidCredentials()
        if _unverified(row):
            deadline: datetime = row["customer_tm_create"] + self._unverified_ttl
            return deadline if credential_expiry is None else min(credential_expiry, deadline)
        return credential_expiry


def unverified_signup(status: str, email_verified: bool) -> bool:
    """A customer that signed up itself and has not verified its email yet."""
    return status == "initial" and not email_verified


def _unverified(row: Row) -> bool:
    return unverified_signup(row["customer_status"], row["customer_email_verified"])


# What the credential's customer says about it; every identity query reads these.
CUSTOMER_COLUMNS = (
    Customer.id.label("customer_id"),
    Customer.status.label("customer_status"),
    Customer.email_verified.label("customer_email_verified"),
    Customer.tm_create.label("customer_tm_create"),
    Customer.tm_delete.label("customer_tm_delete"),
    Customer.tm_deletion_scheduled.label("customer_tm_deletion_scheduled"),
)
LOGIN_IDENTITY_QUERY = (
    select(
        LoginSession.id.label("session_id"),
        LoginSession.tm_create.label("session_started"),
        LoginSession.tm_expire,
        LoginSession.tm_revoke,
        Agent.id.label("agent_id"),
        Agent.permission,
        Agent.username,
        Agent.tm_delete.label("agent_tm_delete"),
        *CUSTOMER_COLUMNS,
    )
    .join(Agent, Agent.id == LoginSession.agent_id)
    .join(Customer, Customer.id == Agent.customer_id)
    .where(
        LoginSession.id == bindparam("session_id"),
        LoginSession.agent_id == bindparam("agent_id"),
    )
)
ACCESSKEY_IDENTITY_QUERY = (
    select(
        AccessKey.id.label("accesskey_id"),
        AccessKey.token_prefix,
        AccessKey.tm_expire,
        *CUSTOMER_COLUMNS,
    )
    .join(Customer, Customer.id == AccessKey.customer_id)
    .where(AccessKey.token_hash == bindparam("digest"), AccessKey.tm_delete.is_(None))
)
DIRECT_IDENTITY_QUERY = (
    select(
        Direct.id.label("direct_id"),
        Direct.resource_type,
        Direct.resource_id,
        *CUSTOMER_COLUMNS,
    )
    .join(Customer, Customer.id == Direct.customer_id)
    .where(
        Direct.id == bindparam("direct_id"),
        Direct.generation == bindparam("generation"),
        Direct.tm_delete.is_(None),
    )
)


DELEGATE_IDENTITY_QUERY = (
    select(
        Delegation.id.label("delegation_id"),
        Delegation.reason,
        Delegation.tm_expire,
        Delegation.tm_revoke,
        Agent.id.label("agent_id"),
        Agent.permission,
        Agent.username,
        Agent.tm_delete.label("agent_tm_delete"),
        *CUSTOMER_COLUMNS,
    )
    .join(Agent, Agent.id == Delegation.agent_id)
    .join(Customer, Customer.id == Delegation.customer_id)
    .where(
        Delegation.id == bindparam("delegation_id"),
        Delegation.agent_id == bindparam("agent_id"),
    )
)


def refuse_frozen(identity: Identity) -> None:
    """Reference §5.5, failing closed: a frozen customer's credentials only reach recovery.

    Superadmins pass, as in the reference; its direct tokens do not (the reference lets a
    frozen customer's widgets go on working, which is what freezing is meant to stop).
    """
    if identity.customer_status != "frozen" or identity.is_superadmin:
        return
    scheduled = identity.deletion_scheduled
    effective = None
    if scheduled is not None:
        effective = clock.format_timestamp(scheduled + timedelta(days=FROZEN_GRACE_DAYS))
    raise PermissionDenied(
        "This account is frozen. Contact support.",
        reason="ACCOUNT_FROZEN",
        details=[
            {
                "deletion_scheduled_at": scheduled and clock.format_timestamp(scheduled),
                "deletion_effective_at": effective,
                "recovery_endpoint": "DELETE /auth/unregister",
            }
        ],
    )
