"""The key ring: what it signs, and every way a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from vbauth.security.tokens import REQUIRED_CLAIMS, Ed25519Key, InvalidToken, KeyRing

SECRET = secrets.token_urlsafe(48)
OLD_SECRET = secrets.token_urlsafe(48)
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def ring(current: str = SECRET, previous: list[str] | None = None) -> KeyRing:
    return KeyRing.from_secrets(current, previous or [], issuer="vbauth", audience="voipbin-api")


def issue(keys: KeyRing | None = None, **extra: object) -> str:
    keys = keys or ring()
    return keys.issue(typ="login", subject="agent-1", ttl=604800, at=NOW, extra=extra).token


def test_a_token_carries_standard_claims_and_a_kid() -> None:
    keys = ring()
    issued = keys.issue(typ="login", subject="agent-1", ttl=604800, at=NOW, extra={"sid": "s"})
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "HS256"
    assert header["kid"] == keys.current.kid
    claims = keys.read(issued.token, at=NOW)
    assert set(REQUIRED_CLAIMS) <= set(claims)
    assert claims["exp"] - claims["iat"] == 604800
    assert claims["nbf"] == claims["iat"] == int(NOW.timestamp())
    assert (claims["iss"], claims["aud"], claims["typ"], claims["sid"]) == (
        "vbauth",
        "voipbin-api",
        "login",
        "s",
    )
    assert issued.expires_at == NOW + timedelta(days=7)


def test_the_kid_does_not_reveal_the_secret() -> None:
    assert SECRET not in ring().current.kid
    assert ring().current.kid != ring(OLD_SECRET).current.kid


def test_a_token_expires_at_exp_exactly() -> None:
    token = issue()
    ring().read(token, at=NOW + timedelta(seconds=604799))
    with pytest.raises(InvalidToken, match="expired"):
        ring().read(token, at=NOW + timedelta(seconds=604800))


def test_a_token_is_not_valid_before_nbf() -> None:
    with pytest.raises(InvalidToken):
        ring().read(issue(), at=NOW - timedelta(seconds=1))


def test_a_previous_secret_still_verifies_but_never_signs() -> None:
    old_token = issue(ring(OLD_SECRET))
    rotated = ring(SECRET, [OLD_SECRET])
    assert rotated.read(old_token, at=NOW)["sub"] == "agent-1"
    assert jwt.get_unverified_header(issue(rotated))["kid"] == ring(SECRET).current.kid


def test_a_token_from_another_secret_is_refused() -> None:
    with pytest.raises(InvalidToken):
        ring().read(issue(ring(OLD_SECRET)), at=NOW)


def _forge(header: dict[str, object], claims: dict[str, object], signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        [part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)]
    )


def _good_claims() -> dict[str, object]:
    return jwt.decode(issue(), options={"verify_signature": False})


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "typ": "JWT"},
        {"alg": "None", "typ": "JWT"},
        {"alg": "HS512", "typ": "JWT"},
        {"alg": "RS256", "typ": "JWT"},
    ],
)
def test_algorithms_outside_the_allow_list_are_refused(header: dict[str, object]) -> None:
    header = {**header, "kid": ring().current.kid}
    with pytest.raises(InvalidToken):
        ring().read(_forge(header, _good_claims()), at=NOW)


def test_hs512_signed_with_the_real_secret_is_still_refused() -> None:
    token = jwt.encode(
        _good_claims(), SECRET, algorithm="HS512", headers={"kid": ring().current.kid}
    )
    with pytest.raises(InvalidToken, match="algorithm"):
        ring().read(token, at=NOW)


@pytest.mark.parametrize("kid", [None, "hs-unknown", 7, ["list"], {"a": 1}])
def test_unknown_or_malformed_kids_are_refused(kid: object) -> None:
    header: dict[str, object] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    token = _forge(header, _good_claims(), b"sig")
    with pytest.raises(InvalidToken):
        ring().read(token, at=NOW)


@pytest.mark.parametrize("missing", REQUIRED_CLAIMS)
def test_each_required_claim_is_required(missing: str) -> None:
    claims = _good_claims()
    del claims[missing]
    token = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": ring().current.kid})
    with pytest.raises(InvalidToken):
        ring().read(token, at=NOW)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("aud", "someone-else"),
        ("aud", ["voipbin-api", "x"]),
        ("iss", "evil"),
        ("exp", "2099-01-01"),
        ("exp", True),
        ("iat", 1.5),
        ("typ", 5),
        ("sub", 5),
    ],
)
def test_wrong_claim_values_are_refused(claim: str, value: object) -> None:
    claims = {**_good_claims(), claim: value}
    token = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": ring().current.kid})
    with pytest.raises(InvalidToken):
        ring().read(token, at=NOW)


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b.c", "a.b", "....", "x" * 5000, "eyJhbGciOiJIUzI1NiJ9.e30."]
)
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        ring().read(token, at=NOW)


def test_a_tampered_payload_is_refused() -> None:
    header, payload, signature = issue().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "agent-2"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        ring().read(f"{header}.{forged}.{signature}", at=NOW)


def test_a_token_issued_in_the_future_is_refused() -> None:
    token = ring().issue(typ="login", subject="agent-1", ttl=600, at=NOW).token
    with pytest.raises(InvalidToken, match=r"future|not yet"):
        ring().read(token, at=NOW - timedelta(seconds=1))
    claims = {**_good_claims(), "iat": int((NOW + timedelta(hours=1)).timestamp())}
    late = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": ring().current.kid})
    with pytest.raises(InvalidToken, match="future"):  # nbf now, iat an hour ahead
        ring().read(late, at=NOW)


def _other_spellings(token: str) -> list[str]:
    header, payload, signature = token.split(".")
    last = signature[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 32 bytes make 43 characters, the last carrying 4 bits and 2 unused: flip the unused ones.
    same_bits = alphabet[alphabet.index(last) ^ 1]
    return [
        f"{token}=",
        f"{header}.{payload}.{signature}==",
        f"{header}.{payload}.{signature[:-1]}{same_bits}",
        f"{header}=.{payload}.{signature}",
        f"{header}.{payload}.{signature}".replace("-", "+").replace("_", "/"),
    ]


def test_a_token_has_one_spelling() -> None:
    token = issue()
    assert ring().read(token, at=NOW)["sub"] == "agent-1"
    for spelling in _other_spellings(token):
        if spelling == token:
            continue
        with pytest.raises(InvalidToken):
            ring().read(spelling, at=NOW)


# Ed25519 (VBAUTH_JWT_ALGORITHM=EdDSA, the default): the same rules, and the ones a public key
# adds: a public key is no HMAC secret, and a token may not name where its key comes from.


def ed_ring(*keys: Ed25519Key) -> KeyRing:
    signing = keys[0] if keys else Ed25519Key.generate()
    return KeyRing([signing, *keys[1:]], signing, issuer="vbauth", audience="voipbin-api")


def test_an_ed25519_token_names_its_key_by_thumbprint_and_verifies_with_the_jwks_alone() -> None:
    keys = ed_ring()
    token = issue(keys)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "kid": keys.current.kid, "typ": "JWT"}
    (published,) = keys.jwks()["keys"]
    assert published["kid"] == keys.current.kid
    assert set(published) == {"kty", "crv", "x", "kid", "alg", "use"}  # no private "d"
    # What an upstream does: a ring of the published keys only.
    upstream = KeyRing(
        [Ed25519Key.from_jwk(published)], None, issuer="vbauth", audience="voipbin-api"
    )
    assert upstream.read(token, at=NOW)["sub"] == "agent-1"
    with pytest.raises(RuntimeError):
        upstream.current.sign({})  # the JWKS cannot sign


def test_a_jwk_whose_kid_is_not_its_thumbprint_is_refused() -> None:
    published = ed_ring().jwks()["keys"][0]
    with pytest.raises(ValueError, match="thumbprint"):
        Ed25519Key.from_jwk({**published, "kid": "another"})


def test_hs256_keyed_with_the_public_key_is_refused() -> None:
    keys = ed_ring()
    (published,) = keys.jwks()["keys"]
    ed = keys.current
    assert isinstance(ed, Ed25519Key)
    header = _part(json.dumps({"alg": "HS256", "kid": ed.kid, "typ": "JWT"}))
    signing_input = f"{header}.{_part(json.dumps(_good_claims()))}".encode()
    for secret in (ed.raw_public, published["x"].encode(), json.dumps(published).encode()):
        mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
        token = f"{signing_input.decode()}.{_part(mac)}"
        with pytest.raises(InvalidToken, match="algorithm"):
            keys.read(token, at=NOW)


def test_a_token_signed_by_another_ed25519_key_under_our_kid_is_refused() -> None:
    keys, stranger = ed_ring(), Ed25519Key.generate()
    # The stranger signs exactly the header our key writes (our kid), over good claims.
    claims = _part(json.dumps(_good_claims()))
    signing_input = keys.current.encoded_header + b"." + claims.encode()
    token = f"{signing_input.decode()}.{_part(stranger.signature(signing_input))}"
    with pytest.raises(InvalidToken, match="Signature"):
        keys.read(token, at=NOW)


def _part(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("field", ["jku", "x5u", "jwk", "x5c", "crit", "cty"])
def test_a_header_that_names_a_key_or_extension_is_refused_even_when_truly_signed(
    field: str,
) -> None:
    keys = ed_ring()
    ed = keys.current
    assert isinstance(ed, Ed25519Key)
    header = {
        "alg": "EdDSA",
        "kid": ed.kid,
        "typ": "JWT",
        field: ["exp"] if field == "crit" else "x",
    }
    signing_input = f"{_part(json.dumps(header))}.{_part(json.dumps(_good_claims()))}".encode()
    token = f"{signing_input.decode()}.{_part(ed.signature(signing_input))}"
    with pytest.raises(InvalidToken, match=r"header fields|critical extension"):
        keys.read(token, at=NOW)


def test_a_retired_key_is_gone_from_the_ring_and_its_tokens_fail() -> None:
    old, new = Ed25519Key.generate(), Ed25519Key.generate()
    keys = ed_ring(old, new)
    token = issue(keys)
    keys.replace([new], new)
    assert keys.jwks()["keys"][0]["kid"] == new.kid and len(keys.jwks()["keys"]) == 1
    with pytest.raises(InvalidToken, match="unknown kid"):
        keys.read(token, at=NOW)


def test_an_hs256_ring_publishes_nothing() -> None:
    assert ring().jwks() == {"keys": []}
