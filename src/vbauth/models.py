"""Database tables. Soft delete (``tm_delete``) where the reference has it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    Uuid,
    false,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column

from vbauth.clock import now
from vbauth.db import Base, UTCDateTime, new_id

NIL_UUID = uuid.UUID(int=0)

CUSTOMER_STATUSES = ("initial", "active", "frozen", "expired", "deleted")
IDENTITY_VERIFICATION_STATUSES = ("none", "pending", "verified", "rejected")
WEBHOOK_METHODS = ("", "POST", "GET", "PUT", "DELETE")
RING_METHODS = ("ringall", "linear")
AGENT_STATUSES = ("", "available", "away", "busy", "offline", "ringing")
# What a direct hash may be made for (reference §6); which of them boot is configuration.
DIRECT_RESOURCE_TYPES = (
    "agent",
    "ai",
    "ai_team",
    "conference",
    "extension",
    "flow",
    "queue",
    "team",
    "webchat_widget",
)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    # A new address waiting for its owner to follow the mailed link; it replaces email then.
    pending_email: Mapped[str] = mapped_column(String(254), default="")
    phone_number: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(Text, default="")
    webhook_method: Mapped[str] = mapped_column(String(8), default="")
    webhook_uri: Mapped[str] = mapped_column(Text, default="")
    webhook_secret: Mapped[str] = mapped_column(String(128), default="")
    billing_account_id: Mapped[uuid.UUID] = mapped_column(Uuid, default=NIL_UUID)
    # Metadata on the wire; "metadata" itself is reserved by SQLAlchemy's declarative base.
    flags: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # The operators' own customer, made by `vbauth bootstrap`: its agents may hold platform bits.
    # Set only from the shell, never by the API (a name such as "platform" proves nothing).
    is_platform: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default="initial")
    identity_verification_status: Mapped[str] = mapped_column(String(16), default="none")
    terms_agreed_version: Mapped[str] = mapped_column(String(64), default="")
    terms_agreed_ip: Mapped[str] = mapped_column(String(64), default="")
    tm_deletion_scheduled: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who froze it: "owner" (unregistered; its admins may recover it) or "platform" (a
    # superadmin; only a superadmin may). Empty while not frozen.
    frozen_by: Mapped[str] = mapped_column(String(16), default="", server_default="")
    tm_create: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    tm_update: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tm_delete: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # One live customer per email; the database decides, so two signups cannot race.
        Index(
            "uq_customers_email_live",
            "email",
            unique=True,
            sqlite_where=text("tm_delete IS NULL AND email != ''"),
            postgresql_where=text("tm_delete IS NULL AND email != ''"),
        ),
        Index("ix_customers_tm_create", "tm_create"),
    )

    @property
    def is_live(self) -> bool:
        return self.tm_delete is None and self.status not in ("deleted", "expired")


class Direct(Base):
    """A direct hash: a public link that boots short tokens scoped to one resource."""

    __tablename__ = "directs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id"))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # Shown again by GET /v1.0/directs (it is meant for public links), so kept as is.
    hash: Mapped[str] = mapped_column(String(64))
    # Bumped by regenerate: tokens booted from an older generation stop working.
    generation: Mapped[int] = mapped_column(default=1)
    tm_create: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    tm_update: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tm_delete: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("uq_directs_hash", "hash", unique=True),
        # Per customer: a resource id of another customer's cannot be squatted.
        Index(
            "uq_directs_resource_live",
            "customer_id",
            "resource_type",
            "resource_id",
            unique=True,
            sqlite_where=text("tm_delete IS NULL"),
            postgresql_where=text("tm_delete IS NULL"),
        ),
        Index("ix_directs_customer_id_tm_create", "customer_id", "tm_create"),
    )


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id"))
    # Stored normalised (trimmed, lower-case), so uniqueness is case-insensitive in the index.
    username: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    name: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    ring_method: Mapped[str] = mapped_column(String(16), default="ringall")
    status: Mapped[str] = mapped_column(String(16), default="offline")
    permission: Mapped[int] = mapped_column(BigInteger, default=0)
    tag_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    addresses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    tm_create: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    tm_update: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tm_delete: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The agent's own direct hash (a direct of resource type "agent"), "" when it has none:
    # read with the agent, never stored twice.
    direct_hash: Mapped[str] = column_property(
        select(func.coalesce(func.max(Direct.hash), ""))
        .where(
            Direct.customer_id == customer_id,
            Direct.resource_type == "agent",
            Direct.resource_id == id,
            Direct.tm_delete.is_(None),
        )
        .scalar_subquery(),
        expire_on_flush=False,  # it follows the agent's id, which an update never changes
    )

    __table_args__ = (
        Index(
            "uq_agents_username_live",
            "username",
            unique=True,
            sqlite_where=text("tm_delete IS NULL"),
            postgresql_where=text("tm_delete IS NULL"),
        ),
        Index("ix_agents_customer_id_tm_create", "customer_id", "tm_create"),
    )


class LoginSession(Base):
    """One successful login. Its id is the token's ``sid``; revoking it kills the token."""

    __tablename__ = "login_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id"))
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    tm_create: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    tm_expire: Mapped[datetime] = mapped_column(UTCDateTime)
    tm_revoke: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last request made with it, written in batches (Runtime.flush_last_used).
    tm_last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_login_sessions_agent_id", "agent_id"),)


class AccessKey(Base):
    """A long-lived API key. Only its SHA-256 is kept; the key itself is shown once."""

    __tablename__ = "accesskeys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id"))
    name: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    token_hash: Mapped[str] = mapped_column(String(64))
    token_prefix: Mapped[str] = mapped_column(String(16))
    tm_expire: Mapped[datetime] = mapped_column(UTCDateTime)
    tm_last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tm_create: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    tm_update: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tm_delete: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("uq_accesskeys_token_hash", "token_hash", unique=True),
        Index("ix_accesskeys_customer_id_tm_create", "customer_id", "tm_create"),
    )


class OneTimeToken(Base):
    """An email-verification or password-reset token: single use, short-lived, stored hashed."""

    __tablename__ = "one_time_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id"))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("agents.id"))
    email: Mapped[str] = mapped_column(String(254), default="")  # what a verification verifies
    tm_create: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    tm_expire: Mapped[datetime] = mapped_column(UTCDateTime)
    tm_used: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("uq_one_time_tokens_token_hash", "token_hash", unique=True),)


class OutboxMessage(Base):
    """An email, written in the transaction that caused it and delivered after it commits."""

    __tablename__ = "outbox"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # pending -> sending -> sent (over SMTP) | logged (no SMTP configured) | failed (gave up)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    tm_create: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    tm_claim: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a deliverer took it
    tm_sent: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_outbox_status_tm_create", "status", "tm_create"),
        # The hourly bound per address and kind (services/mail.may_send).
        Index("ix_outbox_recipient_purpose_tm_create", "recipient", "purpose", "tm_create"),
    )


class Binding(Base):
    """An upstream object that belongs to a resource (an aicall of an AI), learnt from events.

    It is what lets a direct token subscribe to that object's topic and nothing else's.
    """

    __tablename__ = "bindings"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    object_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    bound_to: Mapped[uuid.UUID] = mapped_column(Uuid)
    tm_create: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class SigningKeyRecord(Base):
    """An Ed25519 key that signs or verifies tokens (``VBAUTH_JWT_ALGORITHM=EdDSA``).

    The public half is published at ``/.well-known/jwks.json``; the private half is kept sealed
    (``security/sealing.py``). The newest key whose ``tm_activate`` has passed signs; a key made
    by a rotation is published first and signs only once every instance has had time to load it.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)  # its RFC 7638 thumbprint
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(Text)  # base64url, raw 32 bytes
    sealed_private_key: Mapped[str] = mapped_column(Text)
    tm_create: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    tm_activate: Mapped[datetime] = mapped_column(UTCDateTime)
    # A retired key verifies nothing and is no longer published; the row stays as a record.
    tm_retire: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """A security event, append-only: written in the transaction of the change it records.

    It never holds a credential, a password or a link: ids, names, addresses and reasons only.
    ``customer_id`` is None for platform-wide entries (a failed login for nobody we know).
    """

    __tablename__ = "audit_events"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(48))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_kind: Mapped[str] = mapped_column(String(16))  # agent, accesskey, direct, delegate...
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_username: Mapped[str] = mapped_column(String(254), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(256), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tm_create: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    __table_args__ = (
        Index("ix_audit_events_customer_id_tm_create", "customer_id", "tm_create"),
        Index("ix_audit_events_tm_create", "tm_create"),
    )


class Delegation(Base):
    """A superadmin acting as an admin of one customer, for a stated reason (``/auth/delegate``).

    Its token names this row (``did``), so the delegation can be checked on every request: it
    ends when it expires, when it is revoked, or when its superadmin loses the bit.
    """

    __tablename__ = "delegations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id"))
    reason: Mapped[str] = mapped_column(String(200))
    tm_create: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    tm_expire: Mapped[datetime] = mapped_column(UTCDateTime)
    tm_revoke: Mapped[datetime | None] = mapped_column(UTCDateTime)
