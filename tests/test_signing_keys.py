"""Signing keys on running servers: the JWKS, rotation seen by every instance, retirement.

Two instances share one database and one installation secret, as a deployment would; keys are
rotated and retired with the ``vbauth signing-key`` command, as an operator would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from tests.conftest import make_settings
from tests.factories import PASSWORD
from tests.server import Server, cli, running_pair, running_server
from tests.upstreams import echo_server
from vbauth import clock, migrate
from vbauth.gateway.remote_keys import RemoteKeys
from vbauth.models import SigningKeyRecord
from vbauth.runtime import Runtime
from vbauth.security.tokens import Ed25519Key, InvalidToken, KeyRing
from vbauth.services import signing_keys
from vbauth.services.errors import StateInvalid

REFRESH = "0.5"  # seconds between reloads: a rotated key signs 1 s after it is made
PICKUP_SECONDS = 10  # what the issue promises: every instance sees a change within this


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, str]]:
    """Two instances on one SQLite database; the third item is the echo upstream's URL."""
    routes = tmp_path_factory.mktemp("keys-routes") / "routes.toml"
    with echo_server() as echo:
        routes.write_text(
            f'[[route]]\nprefix = "/v1.0/echo"\nupstream = "{echo}"\naudience = "echo"\n'
            'permission = 96\nidentities = ["agent", "accesskey"]\n'
        )
        with running_pair(
            tmp_path_factory,
            "keys",
            VBAUTH_SIGNING_KEY_REFRESH_SECONDS=REFRESH,
            VBAUTH_ROUTES_FILE=str(routes),
        ) as (first, second):
            cli(first, "customer", "create", "--email", OWNER, "--admin-password", PASSWORD)
            yield first, second, echo


OWNER = "keys-owner@example.com"


def login(server: Server) -> str:
    response = httpx.post(
        f"{server.base}/auth/login", json={"username": OWNER, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def me(server: Server, token: str) -> int:
    return httpx.get(f"{server.base}/v1.0/me", params={"token": token}).status_code


def jwks(server: Server) -> list[str]:
    response = httpx.get(f"{server.base}/.well-known/jwks.json")
    assert response.status_code == 200
    return [key["kid"] for key in response.json()["keys"]]


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def verified_with_jwks(server: Server, token: str, *, audience: str) -> dict[str, Any]:
    """What any upstream can do with PyJWT alone: fetch the JWKS, pick the kid, verify."""
    client = jwt.PyJWKClient(f"{server.base}/.well-known/jwks.json")
    key = client.get_signing_key_from_jwt(token).key
    return dict(jwt.decode(token, key, algorithms=["EdDSA"], audience=audience, issuer="vbauth"))


def eventually(check: Callable[[], bool], seconds: float = PICKUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.1)


def keys_json(server: Server, *args: str) -> Any:
    code, output = cli(server, "signing-key", *args, "--json")
    assert code == 0, output
    return json.loads(output)


def test_both_instances_publish_the_one_key_that_signs_their_tokens(
    pair: tuple[Server, Server, str],
) -> None:
    first, second, _ = pair
    response = httpx.get(f"{first.base}/.well-known/jwks.json")
    assert response.headers["cache-control"] == "public, max-age=60"
    (key,) = response.json()["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and "d" not in key
    assert jwks(second) == [key["kid"]]
    token = login(first)
    assert kid_of(token) == key["kid"]
    assert me(second, token) == 200  # one key for every instance
    # Anyone holding the JWKS can verify a token, with no shared secret.
    assert verified_with_jwks(second, token, audience="voipbin-api")["typ"] == "login"


def test_an_upstream_verifies_the_identity_header_with_the_jwks_alone(
    pair: tuple[Server, Server, str],
) -> None:
    first, _, _ = pair
    response = httpx.get(f"{first.base}/v1.0/echo/things", params={"token": login(first)})
    assert response.status_code == 201, response.text
    forwarded = dict(response.json()["headers"])
    identity = forwarded["x-vb-identity"]
    claims = verified_with_jwks(first, identity, audience="echo")
    assert (claims["typ"], claims["method"], claims["path"]) == (
        "identity",
        "GET",
        "/v1.0/echo/things",
    )
    # An identity header is no credential: its audience is the upstream's, not vbauth's.
    assert me(first, identity) == 401


def test_a_rotation_reaches_every_instance_and_old_tokens_live_until_their_key_retires(
    pair: tuple[Server, Server, str],
) -> None:
    first, second, _ = pair
    (old_kid,) = jwks(first)
    old_token = login(first)

    rotated = keys_json(first, "rotate")
    new_kid = rotated["kid"]
    assert new_kid != old_kid and rotated["signs_from"]
    for server in (first, second):  # published by both within the pickup window...
        eventually(lambda server=server: set(jwks(server)) == {old_kid, new_kid})
    for server in (first, second):  # ...and, once active, signing on both
        eventually(lambda server=server: kid_of(login(server)) == new_kid)
    assert me(second, old_token) == 200  # the old key still verifies
    states = {row["kid"]: row["state"] for row in keys_json(first, "list")}
    assert states == {old_kid: "verifying", new_kid: "signing"}
    code, table = cli(first, "signing-key", "list")  # 80 columns: the kid must stay whole
    assert code == 0 and old_kid in table and new_kid in table

    # An upstream's copy of the JWKS that already holds both keys (it verifies the old one).
    upstream = RemoteKeys(f"{first.base}/.well-known/jwks.json", issuer="vbauth", max_age=0.5)
    asyncio.run(upstream.fetch())
    assert upstream.ring.has(old_kid)

    retired = keys_json(first, "retire", "--kid", old_kid)
    assert retired["kid"] == old_kid
    for server in (first, second):
        eventually(lambda server=server: me(server, old_token) == 401)
        assert jwks(server) == [new_kid]
    assert me(second, login(first)) == 200
    # The upstream drops the retired key once its copy is older than the JWKS's max-age,
    # even though every token it sees names a kid it holds (an attack review found it kept
    # trusting a retired key for good).
    eventually(lambda: not asyncio.run(_holds(upstream, old_token, old_kid)))
    states = {row["kid"]: row["state"] for row in keys_json(first, "list")}
    assert states == {old_kid: "retired", new_kid: "signing"}

    code, output = cli(first, "signing-key", "retire", "--kid", new_kid)
    assert code == 1 and "LAST_SIGNING_KEY" in output
    code, output = cli(first, "signing-key", "retire", "--kid", "no-such-kid")
    assert code == 1 and "SIGNING_KEY_NOT_FOUND" in output


def test_the_database_holds_no_usable_private_key(pair: tuple[Server, Server, str]) -> None:
    first, _, _ = pair
    other_secret = {**first.env, "VBAUTH_JWT_SECRET": secrets.token_urlsafe(48)}
    # A copy of the database with another secret cannot open the keys: the server says so.
    done = subprocess.run(
        [sys.executable, "-m", "vbauth", "serve", "--port", "1"],
        env=other_secret,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "do not open with this installation's secret" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_hs256_mode_publishes_no_keys_and_has_no_rotation(tmp_path: Path) -> None:
    with running_server(tmp_path, VBAUTH_JWT_ALGORITHM="HS256") as server:
        assert httpx.get(f"{server.base}/.well-known/jwks.json").json() == {"keys": []}
        cli(server, "customer", "create", "--email", OWNER, "--admin-password", PASSWORD)
        assert jwt.get_unverified_header(login(server))["alg"] == "HS256"
        code, output = cli(server, "signing-key", "rotate")
        assert code == 1 and "HS256" in output


@pytest.mark.anyio
async def test_two_retirements_sent_at_once_leave_a_live_key(
    own_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An attack review retired the only two keys in two sessions at once on PostgreSQL: none
    # was left, and every login answered 500.
    runtime = Runtime.build(make_settings(own_database, tmp_path))
    await runtime.start()
    try:
        async with runtime.transaction() as session:
            (first,) = await signing_keys.live_records(session)
            second = await signing_keys.rotate(
                session, runtime.sealing_key, activate_after=timedelta(0)
            )
        kids = (first.kid, second.kid)
        # Each retirement waits (a little) for the other to have read the live keys too: the
        # interleaving two operators at two terminals would get by chance.
        read_live, arrived, both = signing_keys.live_records, [], asyncio.Event()

        async def live_then_wait(session: Any, **options: Any) -> Any:
            rows = await read_live(session, **options)
            arrived.append(1)
            if len(arrived) == 2:
                both.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(both.wait(), 0.5)
            return rows

        monkeypatch.setattr(signing_keys, "live_records", live_then_wait)

        async def retire(kid: str) -> bool:
            try:
                async with runtime.transaction() as session:
                    await signing_keys.retire(session, kid)
            except StateInvalid:
                return False
            return True

        outcomes = await asyncio.gather(*(retire(kid) for kid in kids))
        monkeypatch.setattr(signing_keys, "live_records", read_live)
        async with runtime.transaction(write=False) as session:
            live = await signing_keys.live_records(session)
        assert len(live) == 1 and sorted(outcomes) == [False, True]
        await runtime.refresh_signing_keys()
        assert runtime.keys.current.kid == live[0].kid
    finally:
        await runtime.close()


@pytest.fixture
async def own_database(tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database of this test's own (PostgreSQL when the suite runs on it)."""
    base = os.environ.get("VBAUTH_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
        return
    name = f"vbauth_keys_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base.replace("+asyncpg", ""))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = base.rsplit("/", 1)[0] + f"/{name}"
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.anyio
async def test_a_key_row_written_by_someone_else_verifies_nothing(
    own_database: str, tmp_path: Path
) -> None:
    # An attack review inserted a row with its own public key (and a sealed half that does not
    # open): it was published, and a token it signed was accepted.
    runtime = Runtime.build(make_settings(own_database, tmp_path))
    await runtime.start()
    stranger = Ed25519Key.generate()
    try:
        async with runtime.transaction() as session:
            session.add(
                SigningKeyRecord(
                    kid=stranger.kid,
                    algorithm="EdDSA",
                    public_key=base64.urlsafe_b64encode(stranger.raw_public).rstrip(b"=").decode(),
                    sealed_private_key="v1:" + base64.b64encode(b"\0" * 60).decode(),
                    tm_create=clock.now(),
                    tm_activate=clock.now() - timedelta(days=1),
                )
            )
        await runtime.refresh_signing_keys()
        assert stranger.kid not in runtime.keys.kids
        assert stranger.kid not in {key["kid"] for key in runtime.keys.jwks()["keys"]}
        forged = KeyRing([stranger], stranger, issuer="vbauth", audience="voipbin-api").issue(
            typ="login", subject=str(uuid.uuid4()), ttl=600, at=clock.now()
        )
        with pytest.raises(InvalidToken):
            runtime.keys.read(forged.token, at=clock.now())
    finally:
        await runtime.close()


async def _holds(upstream: RemoteKeys, token: str, kid: str) -> bool:
    return (await upstream.ring_for(token)).has(kid)
