"""Stopping an instance: open sockets are told it is going away (1001), and it exits cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import pytest
import websockets

from tests.server import running_server

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"


async def test_a_stopping_instance_closes_its_sockets_with_1001(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        assert server.process is not None
        server.cli("customer", "create", "--email", "bye@example.com", "--admin-password", PASSWORD)
        token = httpx.post(
            f"{server.base}/auth/login", json={"username": "bye@example.com", "password": PASSWORD}
        ).json()["token"]
        url = f"{server.base.replace('http://', 'ws://')}/v1.0/ws?token={token}"
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps({"type": "subscribe", "topics": ["a:b"]}))
            await socket.recv()
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), timeout=20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        # uvicorn shuts down gracefully, then re-raises the signal so a supervisor sees it.
        assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
        log = server.log.read_text()
        assert "Application shutdown complete" in log and "Traceback" not in log
