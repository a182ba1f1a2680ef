"""Settings: weak secrets refused, a local secret generated once, lists from the environment."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from vbauth.runtime import load_jwt_secret
from vbauth.settings import Settings


@pytest.mark.parametrize(
    "secret",
    [
        "short",
        "x" * 64,
        "abababababababababababababababababababab",
        "please-change-me-before-going-to-production-ok",
        "my-super-secret-jwt-key-for-vbauth-1234567890",
        "your-256-bit-value-goes-in-here-1234567890abc",
    ],
)
def test_weak_or_placeholder_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValidationError, match="JWT secret"):
        Settings(jwt_secret=secret)  # type: ignore[arg-type]


def test_a_strong_secret_is_accepted() -> None:
    secret = secrets.token_urlsafe(32)
    assert Settings(jwt_secret=secret).jwt_secret.get_secret_value() == secret  # type: ignore[arg-type,union-attr]


def test_previous_secrets_are_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VBAUTH_JWT_PREVIOUS_SECRETS", f"{secrets.token_urlsafe(32)},changeme")
    with pytest.raises(ValidationError):
        Settings()


def test_a_local_secret_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = load_jwt_secret(settings)
    path = tmp_path / "data" / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_jwt_secret(settings) == first
    assert len(first) >= 32


def test_a_tampered_local_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "jwt_secret").write_text("changeme\n")
    with pytest.raises(ValueError, match="JWT secret"):
        load_jwt_secret(Settings(data_dir=tmp_path))


def test_lists_come_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VBAUTH_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("VBAUTH_TRUSTED_PROXIES", "10.0.0.0/8,::1")
    settings = Settings()
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert [str(n) for n in settings.trusted_networks] == ["10.0.0.0/8", "::1/128"]


def test_a_bad_trusted_proxy_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VBAUTH_TRUSTED_PROXIES", "not-a-network")
    with pytest.raises(ValidationError):
        Settings()


def test_the_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    url = Settings(data_dir=tmp_path).effective_database_url
    assert url == f"sqlite+aiosqlite:///{tmp_path / 'vbauth.db'}"
    assert Settings(database_url="postgresql+asyncpg://h/db").effective_database_url == (
        "postgresql+asyncpg://h/db"
    )


def test_token_lifetimes_default_to_the_references() -> None:
    settings = Settings()
    assert (settings.token_ttl_login, settings.token_ttl_direct, settings.token_ttl_delegate) == (
        604800,
        14400,
        28800,
    )
