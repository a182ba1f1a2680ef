"""Issue 11 on running servers: unregistering and recovery, freezing, delegation, sessions,
and the audit entries each of them writes (with no secret in any of them).

Two instances share one database and Redis, as a deployment would: what one ends, the other
refuses at once.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.factories import PASSWORD
from tests.server import Server, cli, running_pair

ROOT = "root-lifecycle@example.com"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    with running_pair(tmp_path_factory, "life", VBAUTH_REDIS_URL=REDIS_URL) as (first, second):
        code, output = cli(first, "bootstrap", "--username", ROOT, "--password", PASSWORD)
        assert code == 0, output
        yield first, second


@dataclass
class Tenant:
    server: Server
    customer_id: str
    admin: str  # its admin's username
    token: str  # its admin's login token

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return call(self.server, method, path, token or self.token, **kw)


def call(server: Server, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    return httpx.request(method, f"{server.base}{path}", headers=headers, **kw)


def login(server: Server, username: str, password: str = PASSWORD, **kw: Any) -> str:
    response = httpx.post(
        f"{server.base}/auth/login", json={"username": username, "password": password}, **kw
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def tenant(server: Server) -> Tenant:
    email = f"life-{uuid.uuid4().hex[:10]}@example.com"
    code, output = cli(
        server, "customer", "create", "--email", email, "--admin-password", PASSWORD, "--json"
    )
    assert code == 0, output
    customer_id = json.loads(output)["customer"]["id"]
    return Tenant(server, customer_id, email, login(server, email))


def agent(owner: Tenant, permission: int) -> tuple[str, str]:
    username = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    made = owner.call(
        "POST",
        "/v1.0/agents",
        json={"username": username, "password": PASSWORD, "permission": permission},
    )
    assert made.status_code == 200, made.text
    return made.json()["id"], login(owner.server, username)


def accesskey(owner: Tenant) -> str:
    made = owner.call("POST", "/v1.0/accesskeys", json={"name": "k", "expire": 86400})
    assert made.status_code == 200, made.text
    return str(made.json()["token"])


def widget(owner: Tenant) -> str:
    made = owner.call(
        "POST", "/v1.0/directs", json={"resource_type": "ai", "resource_id": str(uuid.uuid4())}
    )
    assert made.status_code == 200, made.text
    booted = httpx.post(f"{owner.server.base}/auth/boot", json={"direct_hash": made.json()["hash"]})
    assert booted.status_code == 200, booted.text
    return str(booted.json()["token"])


def audit_of(server: Server, customer_id: str) -> list[dict[str, Any]]:
    code, output = cli(server, "audit", "--customer-id", customer_id, "--limit", "1000", "--json")
    assert code == 0, output
    entries: list[dict[str, Any]] = json.loads(output)
    return entries


def types_of(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["type"] for entry in entries]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_unregister_freezes_every_credential_until_recovered(
    pair: tuple[Server, Server],
) -> None:
    first, second = pair
    owner = tenant(first)
    key = accesskey(owner)
    direct = widget(owner)
    _, manager = agent(owner, 64)
    spare = owner.call(
        "POST", "/v1.0/directs", json={"resource_type": "ai", "resource_id": str(uuid.uuid4())}
    ).json()["hash"]
    unregister = "/auth/unregister"
    # Refusals: neither or both proofs, a wrong phrase or password, a manager, a widget.
    for body in ({}, {"password": PASSWORD, "confirmation_phrase": "DELETE"}):
        error_of(owner.call("POST", unregister, json=body), 400)
    error_of(owner.call("POST", unregister, json={"confirmation_phrase": "delete"}), 400)
    error_of(owner.call("POST", unregister, json={"password": "not my password"}), 400)
    error_of(owner.call("POST", unregister, token=manager, json={"password": PASSWORD}), 403)
    error_of(
        owner.call("POST", unregister, token=direct, json={"confirmation_phrase": "DELETE"}), 403
    )

    frozen = owner.call("POST", unregister, json={"password": PASSWORD})
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["status"] == "frozen"
    # Every credential of the customer, on either instance, on vbauth's API and the gateway.
    for server in (first, second):
        for credential, path in (
            (owner.token, "/v1.0/me"),
            (owner.token, "/v1.0/calls"),
            (key, "/v1.0/customer"),
            (manager, "/v1.0/agents"),
            (direct, "/v1.0/aicalls"),
        ):
            error = error_of(call(server, "GET", path, credential), 403)
            assert error["reason"] == "ACCOUNT_FROZEN"
            (details,) = error["details"]
            assert details["recovery_endpoint"] == "DELETE /auth/unregister"
            assert details["deletion_effective_at"] > details["deletion_scheduled_at"]
    # Booting a frozen customer's hash: 400, the customer is not active (the seed's rule).
    booted = httpx.post(f"{first.base}/auth/boot", json={"direct_hash": spare})
    assert error_of(booted, 400)["message"] == "The customer of this direct hash is not active."
    again = owner.call("POST", unregister, json={"confirmation_phrase": "DELETE"})
    assert again.status_code == 200  # frozen already: unregistering again changes nothing

    recovered = call(second, "DELETE", unregister, key)  # an accesskey may recover too
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["status"] == "active"
    assert call(first, "GET", "/v1.0/me", owner.token).status_code == 200
    assert call(first, "GET", "/v1.0/aicalls", direct).status_code == 200
    error_of(owner.call("DELETE", unregister), 400)  # not frozen any more
    entries = types_of(audit_of(first, owner.customer_id))
    assert "customer_frozen" in entries and "customer_recovered" in entries


def test_an_immediate_unregister_erases_the_customer_and_ends_its_credentials(
    pair: tuple[Server, Server],
) -> None:
    first, second = pair
    owner = tenant(first)
    key = accesskey(owner)
    gone = owner.call("POST", "/auth/unregister", json={"password": PASSWORD, "immediate": True})
    assert gone.status_code == 200, gone.text
    body = gone.json()
    assert body["status"] == "deleted"
    assert owner.admin not in json.dumps(body)
    assert body["email"].endswith("@removed.voipbin.net")
    for server in (first, second):
        for credential in (owner.token, key):
            assert call(server, "GET", "/v1.0/customer", credential).status_code == 401
    response = httpx.post(
        f"{first.base}/auth/login", json={"username": owner.admin, "password": PASSWORD}
    )
    assert response.status_code == 401
    assert "customer_deleted" in types_of(audit_of(first, owner.customer_id))
    # What stays in the database says nothing about the people (a review found key names and
    # the sessions' addresses and browsers left behind).
    with sqlite3.connect(first.env["VBAUTH_DATABASE_URL"].split("///", 1)[1]) as db:
        customer = owner.customer_id.replace("-", "")
        rows = db.execute(
            "SELECT client_ip, user_agent FROM login_sessions WHERE customer_id = ?", (customer,)
        ).fetchall()
        names = db.execute(
            "SELECT name, detail FROM accesskeys WHERE customer_id = ?", (customer,)
        ).fetchall()
        agents = db.execute(
            "SELECT username, password_hash FROM agents WHERE customer_id = ?", (customer,)
        ).fetchall()
    assert rows and all(row == ("", "") for row in rows)
    assert names and all(row == ("", "") for row in names)
    assert agents and all(owner.admin not in row[0] and row[1] == "" for row in agents)


def test_superadmins_freeze_and_recover_any_customer(pair: tuple[Server, Server]) -> None:
    first, _ = pair
    root = login(first, ROOT)
    owner = tenant(first)
    path = f"/v1.0/customers/{owner.customer_id}"
    error_of(owner.call("POST", f"{path}/freeze"), 403)  # not for the customer itself
    frozen = call(first, "POST", f"{path}/freeze", root)
    assert (frozen.status_code, frozen.json()["status"]) == (200, "frozen")
    assert error_of(owner.call("GET", "/v1.0/me"), 403)["reason"] == "ACCOUNT_FROZEN"
    recovered = call(first, "POST", f"{path}/recover", root)
    assert (recovered.status_code, recovered.json()["status"]) == (200, "active")
    error_of(call(first, "POST", f"{path}/recover", root), 400)
    assert owner.call("GET", "/v1.0/me").status_code == 200


def test_delegation_acts_as_an_admin_within_its_limits(pair: tuple[Server, Server]) -> None:
    first, second = pair
    owner = tenant(first)
    root = login(first, ROOT)
    reason = "ticket 4711: webhook misconfigured"
    delegate = "/auth/delegate"
    # Refusals in the reference's order: a bad id, not a superadmin, a bad reason, no customer.
    error_of(call(first, "POST", delegate, root, json={"customer_id": "x", "reason": reason}), 422)
    error_of(
        call(
            first,
            "POST",
            delegate,
            owner.token,
            json={"customer_id": owner.customer_id, "reason": reason},
        ),
        403,
    )
    for bad in ("too short", "x" * 201, "non-ascii reason \u00e9\u00e9\u00e9"):
        error_of(
            call(
                first,
                "POST",
                delegate,
                root,
                json={"customer_id": owner.customer_id, "reason": bad},
            ),
            422,
        )
    error_of(
        call(
            first, "POST", delegate, root, json={"customer_id": str(uuid.uuid4()), "reason": reason}
        ),
        404,
    )
    issued = call(
        first, "POST", delegate, root, json={"customer_id": owner.customer_id, "reason": reason}
    )
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["customer_id"] == owner.customer_id and body["expire"]
    token = body["token"]

    # An admin of that customer, on either instance...
    assert call(second, "GET", "/v1.0/agents", token).status_code == 200
    changed = call(second, "PUT", "/v1.0/customer", token, json={"detail": "fixed by support"})
    assert changed.status_code == 200, changed.text
    # ...but nothing that would outlast it, and no delegating further.
    for method, path, payload in (
        ("POST", "/v1.0/accesskeys", {"name": "k"}),
        (
            "POST",
            "/v1.0/agents",
            {"username": "x@example.com", "password": PASSWORD, "permission": 16},
        ),
        ("POST", delegate, {"customer_id": owner.customer_id, "reason": reason}),
        ("POST", "/auth/unregister", {"confirmation_phrase": "DELETE"}),
    ):
        error_of(call(first, method, path, token, json=payload), 403)
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{first.base.replace('http', 'ws')}/v1.0/ws?token={token}").close()
    assert refused.value.response.status_code == 403

    entries = audit_of(first, owner.customer_id)
    issued_entry = next(e for e in entries if e["type"] == "delegate_token_issued")
    assert issued_entry["actor"]["username"] == ROOT
    assert issued_entry["details"]["reason"] == reason
    write = next(e for e in entries if e["type"] == "delegate_request")
    assert write["details"]["method"] == "PUT"
    assert write["details"]["delegation_reason"] == reason
    denials = {
        e["details"]["denial_reason"] for e in entries if e["type"] == "delegate_token_denied"
    }
    assert {"not_superadmin", "invalid_input", "recursive_delegation"} <= denials

    # A new password for the superadmin ends its delegations too (a thief who had the old one
    # keeps no customer's door open).
    second_token = call(
        first, "POST", delegate, root, json={"customer_id": owner.customer_id, "reason": reason}
    ).json()["token"]
    assert call(first, "GET", "/v1.0/agents", second_token).status_code == 200
    root_me = call(first, "GET", "/v1.0/me", root).json()["id"]
    changed = call(
        first,
        "PUT",
        f"/v1.0/agents/{root_me}/password",
        root,
        json={"password": PASSWORD, "current_password": PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    for server in (first, second):
        assert call(server, "GET", "/v1.0/agents", second_token).status_code == 401
    token = call(
        first, "POST", delegate, root, json={"customer_id": owner.customer_id, "reason": reason}
    ).json()["token"]
    assert call(second, "GET", "/v1.0/agents", token).status_code == 200
    # The superadmin loses the bit: the delegation ends with it, everywhere.
    root_id = call(first, "GET", "/v1.0/me", root).json()["id"]
    code, output = cli(
        first, "bootstrap", "--username", "root2-lifecycle@example.com", "--password", PASSWORD
    )
    assert code == 0, output
    root2 = login(first, "root2-lifecycle@example.com")
    demoted = call(
        first, "PUT", f"/v1.0/agents/{root_id}/permission", root2, json={"permission": 32}
    )
    assert demoted.status_code == 200, demoted.text
    for server in (first, second):
        assert call(server, "GET", "/v1.0/agents", token).status_code == 401
    # Giving the bit back revives no delegation (a walkthrough found it did).
    restored = call(
        first, "PUT", f"/v1.0/agents/{root_id}/permission", root2, json={"permission": 33}
    )
    assert restored.status_code == 200, restored.text
    assert call(first, "GET", "/v1.0/agents", token).status_code == 401


def test_sessions_are_listed_and_ended_on_every_instance(pair: tuple[Server, Server]) -> None:
    first, second = pair
    owner = tenant(first)
    phone = login(first, owner.admin, headers={"User-Agent": "phone/1.0"})
    laptop = login(second, owner.admin, headers={"User-Agent": "laptop/2.0"})
    listed = owner.call("GET", "/v1.0/me/sessions")
    assert listed.status_code == 200, listed.text
    rows = listed.json()["result"]
    assert len(rows) == 3 and sum(row["current"] for row in rows) == 1
    assert {row["user_agent"] for row in rows} >= {"phone/1.0", "laptop/2.0"}
    assert all(
        set(row) == {"id", "tm_create", "tm_last_seen", "ip", "user_agent", "current"}
        for row in rows
    )
    laptop_id = next(row["id"] for row in rows if row["user_agent"] == "laptop/2.0")

    assert call(second, "GET", "/v1.0/me", laptop).status_code == 200
    ended = owner.call("DELETE", f"/v1.0/me/sessions/{laptop_id}")
    assert ended.status_code == 200, ended.text
    assert call(second, "GET", "/v1.0/me", laptop).status_code == 401  # the other instance too
    assert call(first, "GET", "/v1.0/me", phone).status_code == 200
    error_of(owner.call("DELETE", f"/v1.0/me/sessions/{uuid.uuid4()}"), 404)

    others = owner.call("DELETE", "/v1.0/me/sessions")
    assert (others.status_code, others.json()) == (200, {"ended": 1})
    assert call(second, "GET", "/v1.0/me", phone).status_code == 401
    assert owner.call("GET", "/v1.0/me").status_code == 200  # the caller's own stays

    # An admin sees and ends an agent's sessions; the agent itself cannot see another's.
    agent_id, agent_token = agent(owner, 16)
    theirs = owner.call("GET", f"/v1.0/agents/{agent_id}/sessions")
    assert len(theirs.json()["result"]) == 1
    assert owner.call("DELETE", f"/v1.0/agents/{agent_id}/sessions").json() == {"ended": 1}
    assert call(second, "GET", "/v1.0/me", agent_token).status_code == 401
    _, other_token = agent(owner, 16)
    error_of(call(first, "GET", f"/v1.0/agents/{agent_id}/sessions", other_token), 403)
    assert "session_revoked" in types_of(audit_of(first, owner.customer_id))


def test_the_audit_log_records_each_action_for_its_customer_and_no_secret(
    pair: tuple[Server, Server],
) -> None:
    first, _ = pair
    owner = tenant(first)
    key = accesskey(owner)
    agent_id, agent_token = agent(owner, 16)
    owner.call("PUT", f"/v1.0/agents/{agent_id}/permission", json={"permission": 32})
    owner.call(
        "PUT", f"/v1.0/agents/{agent_id}/password", json={"password": "a brand new secret pw"}
    )
    httpx.post(
        f"{first.base}/auth/login", json={"username": owner.admin, "password": "wrong guess pw"}
    )
    httpx.post(
        f"{first.base}/auth/login",
        json={"username": "nobody-at-all@example.com", "password": "x" * 12},
    )
    direct = owner.call(
        "POST", "/v1.0/directs", json={"resource_type": "ai", "resource_id": str(uuid.uuid4())}
    ).json()
    owner.call("POST", f"/v1.0/directs/{direct['id']}/regenerate")
    owner.call("DELETE", f"/v1.0/directs/{direct['id']}")
    httpx.post(f"{first.base}/auth/boot", json={"direct_hash": "direct.nothing-here"})
    key_id = owner.call("GET", "/v1.0/accesskeys").json()["result"][0]["id"]
    owner.call("PUT", f"/v1.0/accesskeys/{key_id}", json={"name": "renamed"})
    owner.call("DELETE", f"/v1.0/accesskeys/{key_id}")
    owner.call("DELETE", f"/v1.0/agents/{agent_id}")
    call(first, "POST", "/auth/logout", owner.token)

    listed = call(
        first, "GET", "/v1.0/audit_events", login(first, owner.admin), params={"page_size": 100}
    )
    assert listed.status_code == 200, listed.text
    entries = listed.json()["result"]
    assert {e["customer_id"] for e in entries} == {owner.customer_id}  # its own only
    assert set(types_of(entries)) >= {
        "login_succeeded",
        "login_failed",
        "logout",
        "agent_created",
        "permission_changed",
        "password_changed",
        "agent_deleted",
        "accesskey_created",
        "accesskey_updated",
        "accesskey_deleted",
        "direct_created",
        "direct_regenerated",
        "direct_deleted",
    }
    sample = next(e for e in entries if e["type"] == "accesskey_created")
    assert set(sample) == {
        "id",
        "type",
        "customer_id",
        "actor",
        "ip",
        "user_agent",
        "request_id",
        "tm_create",
        "details",
    }
    assert sample["actor"]["kind"] == "agent" and sample["actor"]["username"] == owner.admin
    assert sample["ip"] == "127.0.0.1" and sample["request_id"].startswith("req_")
    # No credential, password or link anywhere in the log, the platform's part included.
    everything = json.dumps(entries) + json.dumps(audit_of(first, owner.customer_id))
    code, platform = cli(first, "audit", "--limit", "1000", "--json")
    assert code == 0, platform
    everything += platform
    for secret in (
        PASSWORD,
        "a brand new secret pw",
        "wrong guess pw",
        key,
        agent_token,
        owner.token,
        direct["hash"],
        "x" * 12,
    ):
        assert secret not in everything
    assert "boot_failed" in platform and "nobody-at-all@example.com" not in platform
    # Filters, and who may read.
    only = call(
        first,
        "GET",
        "/v1.0/audit_events",
        login(first, owner.admin),
        params={"type": "login_failed"},
    )
    assert {e["type"] for e in only.json()["result"]} == {"login_failed"}
    error_of(
        call(
            first, "GET", "/v1.0/audit_events", login(first, owner.admin), params={"type": "nope"}
        ),
        400,
    )
    owner.token = login(first, owner.admin)  # it logged out above
    _, manager = agent(owner, 64)
    error_of(call(first, "GET", "/v1.0/audit_events", manager), 403)
    # ROOT may have lost its bit to the delegation test: bootstrap gives it back.
    code, output = cli(first, "bootstrap", "--username", ROOT, "--password", PASSWORD)
    assert code == 0, output
    root = login(first, ROOT)
    theirs = call(
        first, "GET", "/v1.0/audit_events", root, params={"customer_id": owner.customer_id}
    )
    assert {e["customer_id"] for e in theirs.json()["result"]} == {owner.customer_id}


def test_a_customer_cannot_lift_a_freeze_the_platform_imposed(pair: tuple[Server, Server]) -> None:
    # A review found the customer's own admin could undo a superadmin's freeze (for abuse,
    # say) with DELETE /auth/unregister.
    first, _ = pair
    code, output = cli(first, "bootstrap", "--username", ROOT, "--password", PASSWORD)
    assert code == 0, output
    root = login(first, ROOT)
    owner = tenant(first)
    key = accesskey(owner)
    path = f"/v1.0/customers/{owner.customer_id}"
    assert call(first, "POST", f"{path}/freeze", root).status_code == 200
    for credential in (owner.token, key):
        error = error_of(call(first, "DELETE", "/auth/unregister", credential), 403)
        assert error["reason"] == "FROZEN_BY_PLATFORM"
    assert error_of(owner.call("GET", "/v1.0/me"), 403)["reason"] == "ACCOUNT_FROZEN"
    # Nor erase itself out of it (a walkthrough erased an account under investigation).
    erase = {"confirmation_phrase": "DELETE", "immediate": True}
    assert error_of(owner.call("POST", "/auth/unregister", json=erase), 403)["reason"] == (
        "FROZEN_BY_PLATFORM"
    )
    assert call(first, "POST", f"{path}/recover", root).status_code == 200
    assert owner.call("GET", "/v1.0/me").status_code == 200
    # Freezing itself first buys nothing: the platform's freeze takes over.
    mine = owner.call("POST", "/auth/unregister", json={"confirmation_phrase": "DELETE"})
    assert mine.status_code == 200
    assert call(first, "POST", f"{path}/freeze", root).status_code == 200
    error = error_of(owner.call("DELETE", "/auth/unregister"), 403)
    assert error["reason"] == "FROZEN_BY_PLATFORM"
    assert call(first, "POST", f"{path}/recover", root).status_code == 200


def test_a_delegate_leaves_nothing_behind_and_its_refusals_stay_with_the_caller(
    pair: tuple[Server, Server],
) -> None:
    first, _ = pair
    code, output = cli(first, "bootstrap", "--username", ROOT, "--password", PASSWORD)
    assert code == 0, output
    root = login(first, ROOT)
    owner, stranger = tenant(first), tenant(first)
    reason = "ticket 4712: checking their webhook"
    token = call(
        first,
        "POST",
        "/auth/delegate",
        root,
        json={"customer_id": owner.customer_id, "reason": reason},
    ).json()["token"]
    agent_id, _ = agent(owner, 16)
    # What would outlast the delegation: a webhook or an address, a hash, an admin or manager.
    for method, path, payload in (
        ("PUT", "/v1.0/customer", {"webhook_uri": "https://attacker.example/hook"}),
        ("PUT", "/v1.0/customer", {"email": "attacker@example.com"}),
        ("POST", "/v1.0/directs", {"resource_type": "ai", "resource_id": str(uuid.uuid4())}),
        ("PUT", f"/v1.0/agents/{agent_id}/permission", {"permission": 32}),
    ):
        error = error_of(call(first, method, path, token, json=payload), 403)
        assert error["reason"] == "DELEGATE_NOT_ALLOWED", (path, error)
    # Writes through forward-auth are recorded like any other.
    verified = call(
        first,
        "GET",
        "/auth/verify",
        token,
        headers={"X-Original-URI": "/v1.0/calls", "X-Original-Method": "POST"},
    )
    assert verified.status_code == 200, verified.text
    writes = [e for e in audit_of(first, owner.customer_id) if e["type"] == "delegate_request"]
    assert any(e["details"]["path"] == "/v1.0/calls" for e in writes)
    # The platform's own customer is no one's to act as.
    platform_id = call(first, "GET", "/v1.0/customer", root).json()["id"]
    error_of(
        call(
            first,
            "POST",
            "/auth/delegate",
            root,
            json={"customer_id": platform_id, "reason": reason},
        ),
        403,
    )
    # A customer asking to act as another writes nothing into that other's log.
    before = len(audit_of(first, stranger.customer_id))
    error_of(
        owner.call(
            "POST", "/auth/delegate", json={"customer_id": stranger.customer_id, "reason": reason}
        ),
        403,
    )
    assert len(audit_of(first, stranger.customer_id)) == before
    mine = [e for e in audit_of(first, owner.customer_id) if e["type"] == "delegate_token_denied"]
    assert mine and mine[0]["details"]["denial_reason"] == "not_superadmin"
