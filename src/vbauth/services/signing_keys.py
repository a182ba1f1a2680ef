"""Ed25519 signing keys in the database: made, rotated, retired, and loaded into a key ring.

Every instance reads the same rows (``Runtime.refresh_signing_keys``, every few seconds), so a
rotation made by ``vbauth signing-key rotate`` anywhere reaches all of them. A new key is
published at once but signs only from ``tm_activate``: by then every instance verifies it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.models import SigningKeyRecord
from vbauth.security.sealing import UnsealError, seal, unseal
from vbauth.security.tokens import EDDSA, Ed25519Key, SigningKey, b64url, unb64url
from vbauth.services.errors import NotFound, StateInvalid

log = logging.getLogger("vbauth.keys")


@dataclass(frozen=True, slots=True)
class LoadedKeys:
    keys: list[SigningKey]  # every live key, for verifying
    current: SigningKey | None  # the one that signs now, with its private half


async def live_records(
    session: AsyncSession, *, for_update: bool = False
) -> list[SigningKeyRecord]:
    """The keys not retired, oldest first; ``for_update`` locks them until the transaction
    ends (PostgreSQL), so two retirements cannot each see the other's key as the one left."""
    query = (
        select(SigningKeyRecord)
        .where(SigningKeyRecord.tm_retire.is_(None))
        .order_by(SigningKeyRecord.tm_activate, SigningKeyRecord.kid)
    )
    if for_update:
        query = query.with_for_update()
    return list(await session.scalars(query))


def _opened(record: SigningKeyRecord, sealing_key: bytes) -> Ed25519Key | None:
    try:
        private = unseal(sealing_key, record.kid, record.sealed_private_key)
        key: Ed25519Key | None = Ed25519Key.from_raw(unb64url(record.public_key), private)
    except (UnsealError, ValueError):
        key = None
    if key is None or key.kid != record.kid or not key.halves_match:
        log.error("signing key %s is not one vbauth made; it is ignored", record.kid)
        return None
    return key


def signer_of(records: list[SigningKeyRecord], at: datetime) -> SigningKeyRecord | None:
    """The newest key already active; when none is yet (all just made), the first to become so."""
    active = [record for record in records if record.tm_activate <= at]
    if active:
        return active[-1]
    return records[0] if records else None


async def load(session: AsyncSession, sealing_key: bytes) -> LoadedKeys:
    records = await live_records(session)
    opened: dict[str, Ed25519Key] = {}
    for record in records:
        # Every key must open with our secret and be the key its kid names: a row anyone
        # else wrote (an attack review inserted one, and it verified forged tokens) verifies
        # nothing here. A row that no longer opens at all means another secret: see Runtime.
        key = _opened(record, sealing_key)
        if key is not None:
            opened[record.kid] = key
    if records and not opened:
        raise UnsealError("no signing key opens with this secret")
    usable = [record for record in records if record.kid in opened]
    signer = signer_of(usable, clock.now())
    keys: list[SigningKey] = [opened[record.kid] for record in usable]
    current = opened[signer.kid] if signer is not None else None
    return LoadedKeys(keys, current)


async def ensure_one(session: AsyncSession, sealing_key: bytes) -> SigningKeyRecord | None:
    """A first key, active at once, when there is none (a new installation); else None."""
    if await live_records(session):
        return None
    return _add(session, sealing_key, activate_at=clock.now())


async def rotate(
    session: AsyncSession, sealing_key: bytes, *, activate_after: timedelta
) -> SigningKeyRecord:
    """A new key, published now and signing after ``activate_after``."""
    return _add(session, sealing_key, activate_at=clock.now() + activate_after)


async def retire(session: AsyncSession, kid: str) -> SigningKeyRecord:
    """Stop verifying and publishing ``kid``: tokens it signed fail from the next refresh."""
    records = await live_records(session, for_update=True)
    record = next((r for r in records if r.kid == kid), None)
    if record is None:
        raise NotFound(f"No live signing key has the kid {kid!r}.", reason="SIGNING_KEY_NOT_FOUND")
    if len(records) == 1:
        raise StateInvalid(
            "This is the only signing key; rotate first, then retire it.",
            reason="LAST_SIGNING_KEY",
        )
    record.tm_retire = clock.now()
    return record


async def all_records(session: AsyncSession) -> list[SigningKeyRecord]:
    rows = await session.scalars(
        select(SigningKeyRecord).order_by(SigningKeyRecord.tm_create, SigningKeyRecord.kid)
    )
    return list(rows)


def state_of(record: SigningKeyRecord, signer: SigningKeyRecord | None, at: datetime) -> str:
    """How ``vbauth signing-key list`` describes a key."""
    if record.tm_retire is not None:
        return "retired"
    if signer is not None and record.kid == signer.kid:
        return "signing"
    return "next" if record.tm_activate > at else "verifying"


def _add(session: AsyncSession, sealing_key: bytes, *, activate_at: datetime) -> SigningKeyRecord:
    key = Ed25519Key.generate()
    record = SigningKeyRecord(
        kid=key.kid,
        algorithm=EDDSA,
        public_key=b64url(key.raw_public),
        sealed_private_key=seal(sealing_key, key.kid, key.raw_private),
        tm_create=clock.now(),
        tm_activate=activate_at,
    )
    session.add(record)
    return record
