"""The sockets of this process, what each has subscribed to, and delivery to them."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.websockets import WebSocket, WebSocketDisconnect

from vbauth import metrics
from vbauth.authn import Authenticator, Credential, refuse_frozen
from vbauth.events import topics
from vbauth.events.model import Event
from vbauth.identity import DirectIdentity, Identity
from vbauth.services.errors import ServiceError

log = logging.getLogger("vbauth.events")

POLICY_VIOLATION = 1008
UNSUPPORTED_DATA = 1003
TRY_AGAIN_LATER = 1013
MAX_TOPICS_PER_FRAME = 100
MAX_SUBSCRIPTIONS = 1000
MAX_FRAME_BYTES = 65536


def _frame(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


def error_frame(reason: str, message: str, **fields: Any) -> str:
    return _frame("error", reason=reason, message=message, **fields)


class Connection:
    """One socket: its identity, its subscriptions, and a bounded queue of frames to send."""

    def __init__(
        self,
        websocket: WebSocket,
        identity: Identity,
        credential: Credential,
        *,
        queue_size: int,
        bindings: topics.BindingLookup,
    ) -> None:
        self.websocket = websocket
        self.identity = identity
        self.credential = credential
        self.subscriptions: set[str] = set()
        self._bindings = bindings
        self._outbox: MemoryObjectSendStream[str]
        self._inbox: MemoryObjectReceiveStream[str]
        self._outbox, self._inbox = anyio.create_memory_object_stream[str](queue_size)
        self._stop = anyio.Event()
        self.close_code, self.close_reason = 1000, ""

    def offer(self, frame: str) -> None:
        """Queue a frame; a consumer that fell this far behind is closed, never starved."""
        try:
            self._outbox.send_nowait(frame)
        except anyio.WouldBlock:
            self.close(TRY_AGAIN_LATER, "too slow: the event queue is full")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    def close(self, code: int, reason: str) -> None:
        if not self._stop.is_set():
            self.close_code, self.close_reason = code, reason
            self._stop.set()

    def wants(self, event: Event) -> bool:
        direct = isinstance(self.identity, DirectIdentity)
        if (
            isinstance(self.identity, DirectIdentity)
            and event.bound_to != self.identity.resource_id
        ):
            return False  # defence in depth: never another resource's object
        return topics.may_read(self.identity, event) and any(
            topics.matches(subscription, topic, exact=direct)
            for topic in event.topics
            for subscription in self.subscriptions
        )

    async def recheck(self, authenticator: Authenticator) -> None:
        """Re-authenticate; a revoked credential or a lost permission closes with 1008."""
        try:
            identity = await authenticator.authenticate(self.credential)
            refuse_frozen(identity)  # the same rule as at the upgrade
        except ServiceError as error:
            self.close(POLICY_VIOLATION, error.message)
            return
        self.identity = identity
        for subscription in list(self.subscriptions):
            if await topics.refusal(identity, subscription, self._bindings) is not None:
                self.close(POLICY_VIOLATION, "permissions changed")
                return

    def release(self) -> None:
        """Close the queue; frames offered afterwards are dropped."""
        self._outbox.close()
        self._inbox.close()

    async def serve(self) -> None:
        """Read client frames and write queued ones until either side stops."""
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._read)
                group.start_soon(self._write)
                await self._stop.wait()
                group.cancel_scope.cancel()
        finally:
            self.release()
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):  # client gone
            await self.websocket.close(self.close_code, self.close_reason)

    async def _write(self) -> None:
        async with self._inbox:
            async for frame in self._inbox:
                await self.websocket.send_text(frame)

    async def _read(self) -> None:
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    self.close(1000, "")
                    return
                if message.get("bytes") is not None:
                    self.close(UNSUPPORTED_DATA, "binary frames are not accepted")
                    return
                await self._handle(message.get("text") or "")
        except WebSocketDisconnect:
            self.close(1000, "")

    async def _handle(self, text: str) -> None:
        try:
            if len(text) > MAX_FRAME_BYTES:
                raise ValueError
            request = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past the stack
            self.offer(error_frame("INVALID_JSON", "A frame must be a JSON object."))
            return
        if not isinstance(request, dict) or request.get("type") not in ("subscribe", "unsubscribe"):
            self.offer(
                error_frame("UNKNOWN_TYPE", 'The type must be "subscribe" or "unsubscribe".')
            )
            return
        wanted = request.get("topics")
        if (
            not isinstance(wanted, list)
            or not wanted
            or len(wanted) > MAX_TOPICS_PER_FRAME
            or not all(isinstance(topic, str) for topic in wanted)
        ):
            self.offer(
                error_frame(
                    "INVALID_TOPICS",
                    f"topics must be a list of 1 to {MAX_TOPICS_PER_FRAME} strings.",
                )
            )
            return
        if request["type"] == "unsubscribe":
            self.subscriptions.difference_update(wanted)
            self.offer(_frame("unsubscribed", topics=wanted))
            return
        await self._subscribe(wanted)

    async def _subscribe(self, wanted: list[str]) -> None:
        refused = [
            {"topic": topic, "reason": reason}
            for topic in wanted
            if (reason := await topics.refusal(self.identity, topic, self._bindings))
        ]
        if refused:
            # One bad topic refuses the whole frame, as in the reference, but says why.
            self.offer(
                error_frame(
                    "TOPIC_REFUSED", "Some topics cannot be subscribed to.", details=refused
                )
            )
            return
        if len(self.subscriptions | set(wanted)) > MAX_SUBSCRIPTIONS:
            self.offer(
                error_frame(
                    "TOO_MANY_SUBSCRIPTIONS",
                    f"A socket holds at most {MAX_SUBSCRIPTIONS} subscriptions.",
                )
            )
            return
        self.subscriptions.update(wanted)
        self.offer(_frame("subscribed", topics=wanted))


class Hub:
    """Every connection of this process; delivery and re-checks of their credentials."""

    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self._recheck_wanted: anyio.Event | None = None  # made inside the loop, by run_rechecks

    def request_recheck(self) -> None:
        """Something was revoked or changed: look at every socket again, now."""
        if self._recheck_wanted is not None:
            self._recheck_wanted.set()

    async def run_rechecks(self, authenticator: Authenticator, period: float) -> None:
        """Re-check on request (within a second of a revocation), and every ``period`` anyway."""
        while True:
            self._recheck_wanted = anyio.Event()
            with anyio.move_on_after(period):
                await self._recheck_wanted.wait()
            try:
                await self.recheck(authenticator)
            except Exception:
                log.exception("socket re-check failed; it will run again")

    def add(self, connection: Connection) -> None:
        if connection not in self.connections:
            self.connections.add(connection)
            metrics.SOCKETS.inc()

    def remove(self, connection: Connection) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            metrics.SOCKETS.dec()

    def deliver(self, event: Event) -> int:
        frame, delivered = event.frame(), 0
        for connection in list(self.connections):
            if connection.wants(event):
                connection.offer(frame)
                delivered += 1
        if delivered:
            metrics.DELIVERIES.inc(delivered)
        return delivered

    async def recheck(self, authenticator: Authenticator) -> None:
        """Close sockets whose credential no longer works, or no longer covers a subscription."""
        for connection in list(self.connections):
            await connection.recheck(authenticator)
