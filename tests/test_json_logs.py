"""``VBAUTH_LOG_FORMAT=json``: every line one JSON object, requests and security events with
their fields, and no credential anywhere."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.server import running_server

PASSWORD = "correct horse battery"


def test_every_line_is_an_object_with_its_fields_and_no_credential(tmp_path: Path) -> None:
    with running_server(tmp_path, VBAUTH_LOG_FORMAT="json") as server:
        email = "logs@example.com"
        server.cli("customer", "create", "--email", email, "--admin-password", PASSWORD)
        with httpx.Client(base_url=server.base) as http:
            token = http.post("/auth/login", json={"username": email, "password": PASSWORD}).json()[
                "token"
            ]
            http.cookies.clear()
            assert (
                http.post("/auth/login", json={"username": email, "password": "wrong"}).status_code
                == 401
            )
            me = http.get("/v1.0/me", params={"token": token})
            assert me.status_code == 200
            key = http.post("/v1.0/accesskeys", params={"token": token}, json={"name": "k"}).json()[
                "token"
            ]
            assert http.get("/v1.0/customer", params={"accesskey": key}).status_code == 200
        time.sleep(0.3)  # the writer drains every 50 ms
        text = server.log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # each one JSON
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "vbauth.access"]
    me_line = next(line for line in access if line.get("route") == "/v1.0/me")
    assert me_line["method"] == "GET" and me_line["status"] == 200
    assert me_line["identity_kind"] == "agent" and me_line["customer_id"]
    assert me_line["client_ip"] == "127.0.0.1" and me_line["request_id"].startswith("req_")
    assert isinstance(me_line["latency_ms"], float)
    keyed = next(line for line in access if line.get("route") == "/v1.0/customer")
    assert keyed["identity_kind"] == "accesskey"
    events = {line.get("event") for line in lines if line["logger"] == "vbauth.audit"}
    assert {"login_succeeded", "login_failed", "accesskey_created"} <= events
    for secret in (token, key, PASSWORD, "wrong"):
        assert secret not in text
