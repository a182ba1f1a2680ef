"""Request ids, JSON bodies and the 413 answer (the front layer, ``api/front.py``, uses them)."""

from __future__ import annotations

import json
import os
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from vbauth.api.errors import CANONICAL_STATUS
from vbauth.api.plain_page import CONSOLE_PREFIX, POLICY, refusal_body

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_request_id() -> str:
    """``req_`` + 26 uppercase base32 characters, from 104 random bits.

    Hex digits mapped onto sixteen letters of the base32 alphabet: the reference's shape
    (``req_`` + 26 of ``[A-Z2-7]``) at a fraction of ``base64.b32encode``'s cost, which every
    request without an id of its own would pay.
    """
    return "req_" + os.urandom(13).hex().translate(_HEX_TO_BASE32)


_HEX_TO_BASE32 = str.maketrans("0123456789abcdef", "ABCDEFGHIJKLMNOP")


def accept_request_id(inbound: str | None) -> str:
    """Echo a caller's id when it is safe to log and to put in a header; otherwise make one."""
    if inbound and SAFE_REQUEST_ID.fullmatch(inbound):
        return inbound
    return new_request_id()


class JsonBodyMiddleware:
    """Treat every request body as JSON, whatever its Content-Type says (reference §1.1).

    vbauth's API takes JSON only; clients that forget the header (``curl -d``) still work,
    and a body that is not JSON gets the INVALID_JSON_BODY envelope.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            headers = [(name, value) for name, value in scope["headers"] if name != b"content-type"]
            headers.append((b"content-type", b"application/json"))
            # The same scope, changed in place: the router writes the matched route into it,
            # and the front layer reads that back for the metrics' route label.
            scope["headers"] = headers
        await self.app(scope, receive, send)


async def too_large(scope: Scope, send: Send) -> None:
    """The 413 envelope, sent before the body is read; the connection closes after it."""
    await refuse(scope, send, 413, "REQUEST_TOO_LARGE", "The request body is too large.")


async def refuse(scope: Scope, send: Send, status: int, reason: str, message: str) -> None:
    """An envelope for a request the front layer will not pass on; the connection closes.

    The admin console's addresses get the sentence as a page instead: people read those.
    """
    if scope.get("path", "").startswith(CONSOLE_PREFIX):
        await _refuse_page(send, status, message)
        return
    request_id = scope.get("state", {}).get("request_id", "")
    body = json.dumps(
        {
            "error": {
                "status": CANONICAL_STATUS[status],
                "reason": reason,
                "message": message,
                "request_id": request_id,
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _refuse_page(send: Send, status: int, message: str) -> None:
    body = refusal_body(message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"content-security-policy", POLICY.encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
