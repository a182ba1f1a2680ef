"""Settings, read from ``VBAUTH_*`` variables when ``get_settings()`` is first called."""

from __future__ import annotations

import functools
import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from vbauth.limits.rates import Rate, parse_rate

# Words of the secrets people paste from examples. A service that signs with one of them signs
# tokens anyone can forge, so it refuses to start instead.
PLACEHOLDER_WORDS = ("change", "secret", "example", "placeholder", "password", "your")
MIN_SECRET_LENGTH = 32


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of vbauth. ``VBAUTH_<NAME>`` in the environment sets ``<name>``."""

    model_config = SettingsConfigDict(env_prefix="VBAUTH_", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str = ""  # empty: the embedded SQLite file in data_dir
    redis_url: str | None = None

    # How tokens are signed: Ed25519 keys kept in the database, published as a JWKS, rotated
    # with `vbauth signing-key`; or HS256 with jwt_secret (and jwt_previous_secrets).
    jwt_algorithm: Literal["EdDSA", "HS256"] = "EdDSA"
    # The installation secret: signs tokens in HS256 mode; in EdDSA mode it seals the private
    # keys at rest. Either way the events and upstream secrets derive from it when not set.
    jwt_secret: SecretStr | None = None  # None: generated once and kept in data_dir
    jwt_previous_secrets: Annotated[list[SecretStr], NoDecode] = []  # HS256: verified, not signed
    # How often each instance reads the signing keys again; a rotated key signs only after
    # twice this, when every instance has loaded it.
    signing_key_refresh_seconds: float = Field(default=5.0, gt=0, le=60)
    jwt_issuer: str = "vbauth"
    jwt_audience: str = "voipbin-api"

    token_ttl_login: int = Field(default=604800, gt=0)
    # Which direct resource types may boot, and which resource types their tokens may reach.
    direct_scopes: dict[str, list[str]] = {
        "ai": ["aicall"],
        "ai_team": ["aicall"],
        "webchat_widget": ["webchat_session"],
    }
    token_ttl_direct: int = Field(default=14400, gt=0)
    token_ttl_delegate: int = Field(default=28800, gt=0)

    # OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    argon2_memory_kib: int = Field(default=19456, ge=8)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Hashes running at once (default: one per core) and waiting beyond those; past both, 503.
    hash_concurrency: int | None = Field(default=None, ge=1)
    hash_queue: int = Field(default=64, ge=0)

    identity_cache_ttl: float = Field(default=2.0, ge=0)
    unverified_ttl: int = Field(default=3600, gt=0)  # a signup must verify its email within this
    last_used_flush_seconds: float = Field(default=30.0, gt=0)
    expiry_sweep_seconds: float = Field(default=60.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # Seconds to connect to PostgreSQL or get a pooled connection; a statement gets three times
    # as long. Past them a request gets 503 SERVICE_UNAVAILABLE instead of waiting on.
    database_timeout: float = Field(default=5.0, gt=0)
    # GET /metrics (Prometheus): "off" (404, and no figure is kept), "open" to anyone who can
    # reach it, or a secret of 32+ characters that scrapers send as a Bearer token.
    metrics: SecretStr = SecretStr("off")
    # "text" (readable lines) or "json" (one object per line, for log collectors).
    log_format: Literal["text", "json"] = "text"
    cookie_secure: bool = True

    # Where /auth/verify reads the original request: one proxy's convention, or "auto" (any one
    # of them, and a request that carries more than one is refused: see docs/gateway.md).
    forward_auth: Literal["auto", "nginx", "traefik", "envoy"] = "auto"

    # Rate limits, "rate/burst" per second ("0": off), VoIPBIN's tiers and defaults. Client
    # tiers are keyed by the client's address, customer tiers by the caller's customer.
    rate_limit_auth_public: str = "10/20"
    rate_limit_auth_protected: str = "10/20"
    rate_limit_v1: str = "200/400"
    rate_limit_v1_customer: str = "17/33"
    rate_limit_v1_customer_direct: str = "50/100"
    rate_limit_v1_customer_delegate: str = "8/16"
    # The time budget of one Redis call for limits; past it, this instance's own buckets judge.
    rate_limit_redis_timeout_ms: float = Field(default=50.0, gt=0)
    # Audit entries older than this are pruned (periodically, by every instance).
    audit_retention_days: int = Field(default=400, ge=1)
    # Failed logins per username (12 hours) before its logins wait; 0 turns the throttle off.
    login_max_failures: int = Field(default=20, ge=0)

    cors_origins: Annotated[list[str], NoDecode] = []
    trusted_proxies: Annotated[list[str], NoDecode] = []

    bootstrap_password: SecretStr | None = None

    # Gateway: route policies (default: the file inside the package), upstream limits, and the
    # secret upstreams verify X-VB-Identity with (default: derived one way from jwt_secret).
    routes_file: Path | None = None
    # WebSocket events: browser origins allowed besides vbauth's own host, the per-socket queue,
    # and keepalive (a ping every interval; a socket silent this long is closed).
    ws_origins: Annotated[list[str], NoDecode] = []
    ws_queue_size: int = Field(default=1000, ge=1)
    ws_ping_interval: float = Field(default=10.0, gt=0)
    ws_silence_timeout: float = Field(default=60.0, gt=0)
    upstream_secret: SecretStr | None = None
    events_secret: SecretStr | None = None  # for POST /internal/events; derived when unset
    upstream_timeout: float = Field(default=30.0, gt=0)
    upstream_connect_timeout: float = Field(default=5.0, gt=0)

    # Mail: delivered over SMTP when smtp_url is set (smtp://, smtp+starttls://, smtps://,
    # with user:password@ if the server wants them), otherwise kept in the outbox and logged.
    smtp_url: SecretStr | None = None
    mail_from: str = "vbauth <no-reply@localhost>"
    public_url: str = "http://127.0.0.1:8000"  # the base of links in mail
    # The widget link the admin console offers to copy beside each direct hash: a URL with
    # "{hash}" where the hash goes (e.g. https://widgets.example.com/talk?direct={hash}).
    direct_link_url: str = ""

    _split = field_validator(
        "cors_origins", "trusted_proxies", "jwt_previous_secrets", "ws_origins", mode="before"
    )(_split_csv)

    @field_validator(
        "jwt_secret", "jwt_previous_secrets", "upstream_secret", "events_secret", mode="after"
    )
    @classmethod
    def _refuse_weak_secrets(cls, value: SecretStr | list[SecretStr] | None) -> object:
        for secret in value if isinstance(value, list) else [value]:
            if secret is not None:
                check_secret_strength(secret.get_secret_value())
        return value

    @field_validator(
        "rate_limit_auth_public",
        "rate_limit_auth_protected",
        "rate_limit_v1",
        "rate_limit_v1_customer",
        "rate_limit_v1_customer_direct",
        "rate_limit_v1_customer_delegate",
        mode="after",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        parse_rate(value)  # ValueError names the problem
        return value

    def rates(self) -> dict[str, Rate | None]:
        """Each tier's rate by its name (``auth_public``...), None where it is off."""
        return {
            name.removeprefix("rate_limit_"): parse_rate(getattr(self, name))
            for name in type(self).model_fields
            if name.startswith("rate_limit_") and name != "rate_limit_redis_timeout_ms"
        }

    @field_validator("metrics", mode="after")
    @classmethod
    def _check_metrics(cls, value: SecretStr) -> SecretStr:
        word = value.get_secret_value().strip().lower()
        if word in ("off", "open"):
            return SecretStr(word)  # OFF, Open: the same words
        message = 'must be "off", "open", or a scrape secret of 32+ random characters'
        try:
            check_secret_strength(value.get_secret_value(), "the scrape secret")
        except ValueError as error:
            raise ValueError(f"{error} ({message})") from None
        return value

    @field_validator("direct_link_url", mode="after")
    @classmethod
    def _check_direct_link(cls, value: str) -> str:
        if value and not (value.startswith(("https://", "http://")) and "{hash}" in value):
            raise ValueError('the direct link must be an http(s) URL with "{hash}" in it')
        return value

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad entry
        return value

    @property
    def trusted_networks(self) -> list[Network]:
        return [ipaddress.ip_network(network, strict=False) for network in self.trusted_proxies]

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'vbauth.db').resolve()}"


def check_secret_strength(secret: str, what: str = "the JWT secret") -> None:
    """Refuse secrets that are short, look like placeholders, or use few distinct characters."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"{what} must be at least {MIN_SECRET_LENGTH} characters long")
    lowered = secret.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS) or len(set(secret)) < 8:
        raise ValueError(f"{what} looks like a placeholder; generate a random one")


class SettingsError(ValueError):
    """The environment's settings are unusable; the message names each, never its value."""


@functools.cache
def get_settings() -> Settings:
    try:
        return Settings()
    except PydanticSettingsError as error:
        # A JSON setting that is not JSON (VBAUTH_DIRECT_SCOPES='{bad'): name it, not its value.
        name = str(error).split('"')[1] if '"' in str(error) else "a JSON setting"
        raise SettingsError(f"invalid settings: VBAUTH_{name.upper()}: not valid JSON") from None
    except ValidationError as error:
        # pydantic's own message quotes each rejected input, and a rejected input may be a
        # secret (a JWT secret too short, say): name the setting and the rule only.
        problems = [
            f"VBAUTH_{'_'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
            for problem in error.errors(include_input=False, include_url=False)
        ]
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
