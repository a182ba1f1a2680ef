"""``/v1.0/ws`` and ``/v1.0/service_agents/ws``: event subscriptions scoped by identity.

The credential is checked before the upgrade, by the same pipeline as HTTP; a refusal is the
HTTP envelope (401/403), never an upgraded socket that closes without a word.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from vbauth.api.client import bucket_key, scope_client
from vbauth.api.deps import identify_credential, origin_allowed, public_origin
from vbauth.api.errors import ApiError, response_for
from vbauth.authn import find_credential
from vbauth.events.hub import Connection
from vbauth.runtime import Runtime
from vbauth.services.errors import AuthenticationRequired, PermissionDenied, ServiceError

router = APIRouter(tags=["events"])


@router.websocket("/v1.0/ws")
@router.websocket("/v1.0/service_agents/ws")
async def event_socket(websocket: WebSocket) -> None:
    """Subscribe with ``{"type": "subscribe", "topics": [...]}``; events arrive as they happen."""
    runtime: Runtime = websocket.app.state.runtime
    credential = find_credential(websocket.headers, websocket.cookies, websocket.query_params)
    try:
        # A socket is a /v1.0 request: the same client and customer tiers, before the upgrade.
        client = scope_client(websocket.scope, runtime.trusted_networks)
        await runtime.limits.check("v1", bucket_key(client))
        _check_origin(websocket, runtime)
        if credential is None:
            raise AuthenticationRequired()
        identity = await identify_credential(runtime, credential)
        if identity.kind == "delegate":
            raise PermissionDenied(
                "Delegate tokens cannot subscribe to events.", reason="DELEGATE_NOT_ALLOWED"
            )
        await runtime.limits.check_customer(identity, websocket.scope.setdefault("state", {}))
    except (ServiceError, ApiError) as error:
        await websocket.send_denial_response(response_for(websocket, error))
        return
    await websocket.accept()
    connection = Connection(
        websocket,
        identity,
        credential,
        queue_size=runtime.settings.ws_queue_size,
        bindings=runtime.binding_of,
    )
    runtime.hub.add(connection)
    try:
        await connection.serve()
    finally:
        runtime.hub.remove(connection)


def _check_origin(websocket: WebSocket, runtime: Runtime) -> None:
    """Browsers send Origin: it must be vbauth's own host or an allowed one. Scripts send none."""
    settings = runtime.settings
    allowed = [*settings.ws_origins, public_origin(settings.public_url)]
    if not origin_allowed(websocket.headers, allowed):
        raise PermissionDenied(
            "This origin may not open event sockets.", reason="ORIGIN_NOT_ALLOWED"
        )
