"""Delivery of the mail outbox over SMTP (the standard library's client, in a thread)."""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import anyio.to_thread
from sqlalchemy import or_, select, update

from vbauth import clock
from vbauth.db import SessionFactory, database_unavailable
from vbauth.models import OutboxMessage

log = logging.getLogger("vbauth.mail")

BATCH = 50
MAX_ATTEMPTS = 8
STALE_CLAIM = timedelta(minutes=5)  # a deliverer that died mid-send gives its claim back
FIRST_RETRY = timedelta(seconds=30)  # then doubling: 8 attempts span about an hour of outage


def retry_after(attempts: int) -> timedelta:
    """How long a message that failed ``attempts`` times waits before the next try."""
    return FIRST_RETRY * (1 << max(attempts - 1, 0))


SENT_BODY = "(delivered; the body is not kept because it may hold a one-time link)"


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    mode: str  # "plain", "starttls" or "tls"
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        modes = {"smtp": ("plain", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}
        if parts.scheme not in modes or not parts.hostname:
            raise ValueError("VBAUTH_SMTP_URL must look like smtp[s|+starttls]://[user:pass@]host")
        mode, default_port = modes[parts.scheme]
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            mode=mode,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.mode == "tls":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=15, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=15)
        with client:
            if self.mode == "starttls":
                client.starttls(context=context)
            if self.username is not None:
                client.login(self.username, self.password or "")
            client.send_message(message)


class Mailer:
    """Claims pending messages one by one, sends them outside any transaction, records the end."""

    def __init__(self, *, sessions: SessionFactory, server: SmtpServer | None, sender: str) -> None:
        self._sessions = sessions
        self._server = server
        self._sender = sender
        self._wakeup: anyio.Event | None = None  # made inside the event loop, by run()

    def notify(self) -> None:
        """A commit queued mail: deliver now rather than at the next poll."""
        if self._wakeup is not None:
            self._wakeup.set()

    async def deliver_pending(self) -> int:
        """Deliver what is waiting; returns how many messages were handled."""
        handled = 0
        for message_id in await self._pending_ids():
            message = await self._claim(message_id)
            if message is not None:
                await self._deliver(message)
                handled += 1
        return handled

    async def run(self, poll_seconds: float) -> None:
        """Deliver whenever a commit queued mail, and every ``poll_seconds`` anyway."""
        while True:
            self._wakeup = anyio.Event()
            with anyio.move_on_after(poll_seconds):
                await self._wakeup.wait()
            try:
                await self.deliver_pending()
            except Exception as error:
                if database_unavailable(error):  # an outage: the requests already say so
                    log.warning("mail delivery: the database does not answer; will retry")
                else:
                    log.exception("mail delivery failed; will retry")

    async def _pending_ids(self) -> list[uuid.UUID]:
        """Messages due, oldest first: new ones, failed ones past back-off, abandoned claims.

        Due-ness is decided in SQL, so a backlog waiting out its back-off never hides new mail.
        """
        now = clock.now()
        waited_out = [
            (OutboxMessage.attempts == attempts)
            & (OutboxMessage.tm_claim < now - retry_after(attempts))
            for attempts in range(1, MAX_ATTEMPTS + 1)
        ]
        query = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.tm_claim.is_(None)
                | (
                    (OutboxMessage.status == "sending")
                    & (OutboxMessage.tm_claim < now - STALE_CLAIM)
                )
                | ((OutboxMessage.status == "pending") & or_(*waited_out))
            )
            .where(OutboxMessage.status.in_(("pending", "sending")))
            .order_by(OutboxMessage.tm_create)
            .limit(BATCH)
        )
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def _claim(self, message_id: uuid.UUID) -> OutboxMessage | None:
        """Take one message for this process; a conditional update makes the claim exclusive."""
        async with self._sessions() as session, session.begin():
            message = await session.get(OutboxMessage, message_id)
            if message is None or message.status not in ("pending", "sending"):
                return None
            claimed = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message_id,
                    OutboxMessage.status == message.status,
                    OutboxMessage.attempts == message.attempts,
                )
                .values(status="sending", tm_claim=clock.now(), attempts=message.attempts + 1)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
        return message

    async def _deliver(self, message: OutboxMessage) -> None:
        if self._server is None:
            # No SMTP: the message stays readable with `vbauth outbox --body`; the log line
            # names it but never prints the body, which may hold a one-time link.
            log.info(
                "mail %s to %s: %r kept in the outbox (no VBAUTH_SMTP_URL; "
                "`vbauth outbox --body` shows it)",
                message.id,
                message.recipient,
                message.subject,
            )
            await self._finish(message.id, status="logged")
            return
        try:
            await anyio.to_thread.run_sync(self._server.send, self._email(message))
        except (OSError, smtplib.SMTPException) as error:
            # The claim already counted this attempt (the ORM update refreshed message.attempts).
            failed = message.attempts >= MAX_ATTEMPTS
            log.warning(
                "mail %s to %s failed (attempt %s): %s",
                message.id,
                message.recipient,
                message.attempts,
                error,
            )
            await self._finish(
                message.id, status="failed" if failed else "pending", error=str(error)[:500]
            )
            return
        await self._finish(message.id, status="sent", body=SENT_BODY)

    async def _finish(
        self, message_id: uuid.UUID, *, status: str, error: str = "", body: str | None = None
    ) -> None:
        values: dict[str, object] = {"status": status, "last_error": error}
        if status in ("sent", "logged"):
            values["tm_sent"] = clock.now()
        if body is not None:
            values["body"] = body
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values)
            )

    def _email(self, message: OutboxMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(domain="vbauth")
        email.set_content(message.body)
        return email
