"""Pure ASGI middleware: request ids and access logs, JSON bodies, body size limits."""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vbauth.logs import redact_query

ORIGINAL_CONTENT_TYPE = "vbauth.original_content_type"
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

access_log = logging.getLogger("vbauth.access")


def new_request_id() -> str:
    """``req_`` + 26 characters of unpadded base32 from 16 random bytes."""
    return "req_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")


def accept_request_id(inbound: str | None) -> str:
    """Echo a caller's id when it is safe to log and to put in a header; otherwise make one."""
    if inbound and SAFE_REQUEST_ID.fullmatch(inbound):
        return inbound
    return new_request_id()


class RequestIdMiddleware:
    """Give every request an id (reference §8), echo it, and log one redacted line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        inbound = next(
            (
                value.decode("latin-1")
                for name, value in scope["headers"]
                if name == b"x-request-id"
            ),
            None,
        )
        request_id = accept_request_id(inbound)
        scope.setdefault("state", {})["request_id"] = request_id
        started, status = time.perf_counter(), 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "websocket.accept":
                status = 101
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                query = redact_query(scope.get("query_string", b"").decode("latin-1"))
                access_log.info(
                    "%s %s%s %s %.1fms %s",
                    scope.get("method", "WS"),
                    # Raw, as sent: a decoded %0a could forge a log line.
                    scope.get("raw_path", b"").decode("latin-1") or scope["path"],
                    f"?{query}" if query else "",
                    status or 500,
                    (time.perf_counter() - started) * 1000,
                    request_id,
                )


class JsonBodyMiddleware:
    """Treat every request body as JSON, whatever its Content-Type says (reference §1.1).

    vbauth's API takes JSON only; clients that forget the header (``curl -d``) still work,
    and a body that is not JSON gets the INVALID_JSON_BODY envelope.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            original = next(
                (value for name, value in scope["headers"] if name == b"content-type"), None
            )
            headers = [(name, value) for name, value in scope["headers"] if name != b"content-type"]
            headers.append((b"content-type", b"application/json"))
            # The gateway forwards the client's own Content-Type: upstreams take any body.
            scope = {**scope, "headers": headers, ORIGINAL_CONTENT_TYPE: original}
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with the 413 envelope, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next(
            (value for name, value in scope["headers"] if name == b"content-length"), b"0"
        )
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await _too_large(scope, send)
            return
        received, answering = 0, False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                if answering:
                    # Too late for a 413 (a streamed gateway response has begun): the body
                    # simply ends here, as if the client had gone.
                    return {"type": "http.disconnect"}
                # Raised inside the route's body read, where FastAPI lets HTTPException through
                # to the error handlers, which answer with the same envelope.
                raise HTTPException(413)
            return message

        async def noting_send(message: Message) -> None:
            nonlocal answering
            if message["type"] == "http.response.start":
                answering = True
            await send(message)

        await self.app(scope, counting_receive, noting_send)


async def _too_large(scope: Scope, send: Send) -> None:
    request_id = scope.get("state", {}).get("request_id", "")
    body = json.dumps(
        {
            "error": {
                "status": "INVALID_ARGUMENT",
                "reason": "REQUEST_TOO_LARGE",
                "message": "The request body is too large.",
                "request_id": request_id,
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
