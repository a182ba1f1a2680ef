"""Request and response bodies. Field names follow the reference's JSON."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from vbauth.clock import format_timestamp
from vbauth.models import AGENT_STATUSES, DIRECT_RESOURCE_TYPES, RING_METHODS, WEBHOOK_METHODS
from vbauth.permissions import MAX_PERMISSION
from vbauth.security.one_time import FORMAT as ONE_TIME_FORMAT
from vbauth.security.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from vbauth.services.pages import Listing

EXAMPLE_TIME = "2026-01-15T09:30:00.000000Z"
Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [EXAMPLE_TIME]}),
]
Name = Annotated[str, Field(max_length=255)]
Detail = Annotated[str, Field(max_length=4096)]
Email = Annotated[
    str, Field(max_length=254, json_schema_extra={"format": "email"}, examples=["ada@example.com"])
]
# Request bodies are strict, but JSON has no UUID type: ids arrive as strings.
JsonUuid = Annotated[uuid.UUID, Field(strict=False)]
PermissionBits = Annotated[int, Field(ge=0, le=MAX_PERMISSION)]
WebhookMethod = Literal[WEBHOOK_METHODS]  # type: ignore[valid-type]
RingMethod = Literal[RING_METHODS]  # type: ignore[valid-type]
AgentStatus = Literal[AGENT_STATUSES]  # type: ignore[valid-type]
# Login fields are bounded generously: the password length rule is the service's to apply, after
# the same hashing work, so that length never becomes an oracle.
LoginText = Annotated[str, Field(min_length=1, max_length=4096)]
# A password being set: the same lenient parsing (the service words the refusal), while the
# document states the rule the service applies.
NewPassword = Annotated[
    str,
    Field(
        min_length=1,
        max_length=4096,
        json_schema_extra={
            "minLength": MIN_PASSWORD_LENGTH,
            "maxLength": MAX_PASSWORD_LENGTH,
            "format": "password",
        },
    ),
]
# A mailed link's token; malformed ones are refused by the service like unknown ones.
LinkToken = Annotated[
    str,
    Field(min_length=1, max_length=4096, json_schema_extra={"pattern": ONE_TIME_FORMAT.pattern}),
]


def _refuse_unstorable_text(value: Any) -> None:
    """NUL and lone surrogates parse as JSON but no database stores them: refuse them up front.

    Walks the body with an explicit stack, so no nesting depth can exhaust the interpreter's.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item or any("\ud800" <= ch <= "\udfff" for ch in item):
                raise ValueError("text contains a NUL character or an unpaired surrogate")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def example(body: dict[str, Any]) -> ConfigDict:
    """A model's example body, for the OpenAPI document (and the fuzzer's first requests)."""
    return ConfigDict(json_schema_extra={"examples": [body]})


class Input(BaseModel):
    """A request body: strict JSON types, unknown keys ignored, storable text only."""

    model_config = ConfigDict(strict=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        _refuse_unstorable_text(data)
        return data


class LoginIn(Input):
    model_config = example({"username": "ada@example.com", "password": "correct horse battery"})

    username: LoginText
    password: LoginText


class DelegateIn(Input):
    model_config = example(
        {"customer_id": "5e4a0680-804e-11ec-8477-2fea5968d85b", "reason": "Ticket 4411"}
    )

    customer_id: Annotated[str, Field(min_length=1, max_length=64)]
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class DelegateOut(BaseModel):
    token: str
    customer_id: uuid.UUID
    expire: str


class UnregisterIn(Input):
    password: LoginText | None = None
    confirmation_phrase: Annotated[str, Field(max_length=64)] | None = None
    immediate: bool = False


class LoginOut(BaseModel):
    username: str
    token: str


class Address(Input):
    type: Literal[
        "", "agent", "conference", "email", "extension", "line", "sip", "tel", "web_session"
    ] = ""
    target: Detail = ""
    target_name: Name = ""
    name: Name = ""
    detail: Detail = ""


class CustomerFields(Input):
    name: Name = ""
    detail: Detail = ""
    phone_number: Name = ""
    address: Detail = ""
    webhook_method: WebhookMethod = ""
    webhook_uri: Detail = ""


class CustomerCreate(CustomerFields):
    model_config = example({"email": "owner@example.com", "name": "Example Inc."})

    email: Email
    admin_password: NewPassword | None = None  # vbauth extension: the first admin's password


class CustomerUpdate(Input):
    name: Name | None = None
    detail: Detail | None = None
    email: Email | None = None
    phone_number: Name | None = None
    address: Detail | None = None
    webhook_method: WebhookMethod | None = None
    webhook_uri: Detail | None = None


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    detail: str
    email: str
    phone_number: str
    address: str
    webhook_method: str
    webhook_uri: str
    billing_account_id: uuid.UUID
    metadata: dict[str, Any] = Field(validation_alias="flags")
    email_verified: bool
    status: str
    identity_verification_status: str
    tm_deletion_scheduled: Timestamp | None
    tm_create: Timestamp
    tm_update: Timestamp | None
    tm_delete: Timestamp | None


class CustomerSelfOut(CustomerOut):
    webhook_secret: str
    pending_email: str  # a new address waiting for its owner to follow the mailed link


class CustomerAdminOut(CustomerOut):
    pending_email: str
    terms_agreed_version: str
    terms_agreed_ip: str


class AgentCreate(Input):
    model_config = example(
        {
            "username": "grace@example.com",
            "password": "a long passphrase",
            "name": "Grace",
            "permission": 16,
        }
    )

    username: Email
    password: NewPassword
    name: Name = ""
    detail: Detail = ""
    ring_method: RingMethod = "ringall"
    permission: PermissionBits = 0
    tag_ids: list[JsonUuid] = Field(default_factory=list, max_length=100)
    addresses: list[Address] = Field(default_factory=list, max_length=100)


class AgentUpdate(Input):
    name: Name | None = None
    detail: Detail | None = None
    ring_method: RingMethod | None = None


class PermissionUpdate(Input):
    model_config = example({"permission": 64})

    permission: PermissionBits


class PasswordUpdate(Input):
    model_config = example({"password": "a new long passphrase", "current_password": "the old one"})

    password: NewPassword
    # vbauth extension: an agent changing its own password proves it knows the current one,
    # unless it logged in within the last 10 minutes.
    current_password: LoginText | None = None


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    customer_id: uuid.UUID
    username: str
    name: str
    detail: str
    ring_method: str
    status: str
    permission: int
    tag_ids: list[str]
    addresses: list[dict[str, Any]]
    # The agent's direct hash ("" when none): POST /v1.0/agents/{id}/direct-hash-regenerate.
    direct_hash: str = ""
    tm_create: Timestamp
    tm_update: Timestamp | None
    tm_delete: Timestamp | None


Item = TypeVar("Item")


class PageOut(BaseModel, Generic[Item]):
    result: list[Item]
    next_page_token: str

    # Called on the parametrized class (``PageOut[AgentOut].of(rows, AgentOut)``), so that the
    # route's declared response model is the very class it returns: no second validation.
    @classmethod
    def of(cls, items: list[Any], out: type[BaseModel]) -> Self:
        """The reference's envelope: the last item's ``tm_create``, or ``""`` for an empty page."""
        return cls.of_listing(Listing(items, items[-1].tm_create if items else None), out)

    @classmethod
    def of_listing(cls, listing: Listing, out: type[BaseModel]) -> Self:
        token = format_timestamp(listing.cursor) if listing.cursor else ""
        result: list[Any] = [out.model_validate(item) for item in listing.items]
        return cls(result=result, next_page_token=token)


class AccesskeyCreate(Input):
    model_config = example({"name": "billing export", "detail": "nightly job", "expire": 31536000})

    name: Name = ""
    detail: Detail = ""
    expire: int | None = None  # seconds; range checked by the service, never wrapped


class AccesskeyUpdate(Input):
    name: Name | None = None
    detail: Detail | None = None


class ActorOut(BaseModel):
    kind: str
    id: uuid.UUID | None
    username: str | None = None


class AuditEventOut(BaseModel):
    id: uuid.UUID
    type: str
    customer_id: uuid.UUID | None
    actor: ActorOut
    ip: str
    user_agent: str
    request_id: str
    tm_create: Timestamp
    details: dict[str, Any]

    @classmethod
    def of(cls, row: Any) -> AuditEventOut:
        return cls(
            id=row.id,
            type=row.type,
            customer_id=row.customer_id,
            actor=ActorOut(
                kind=row.actor_kind, id=row.actor_id, username=row.actor_username or None
            ),
            ip=row.ip,
            user_agent=row.user_agent,
            request_id=row.request_id,
            tm_create=row.tm_create,
            details=row.details,
        )


class SessionOut(BaseModel):
    """A login session, as its agent (or the agent's managers) see it."""

    id: uuid.UUID
    tm_create: Timestamp
    tm_last_seen: Timestamp | None
    ip: str
    user_agent: str
    current: bool

    @classmethod
    def of(cls, row: Any, current: uuid.UUID | None) -> SessionOut:
        return cls(
            id=row.id,
            tm_create=row.tm_create,
            tm_last_seen=row.tm_last_seen,
            ip=row.client_ip,
            user_agent=row.user_agent,
            current=row.id == current,
        )


class SessionsEnded(BaseModel):
    ended: int


class AccesskeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    customer_id: uuid.UUID
    name: str
    detail: str
    token_prefix: str
    tm_expire: Timestamp
    tm_last_used: Timestamp | None
    tm_create: Timestamp
    tm_update: Timestamp | None
    tm_delete: Timestamp | None


class AccesskeyCreated(AccesskeyOut):
    token: str  # the only time the key is ever shown

    @classmethod
    def of(cls, key: Any, token: str) -> AccesskeyCreated:
        fields = {name: getattr(key, name) for name in AccesskeyOut.model_fields}
        return cls(**fields, token=token)


class SignupIn(CustomerFields):
    model_config = example(
        {"email": "owner@example.com", "name": "Example Inc.", "accepted_tos": True}
    )

    email: Annotated[str, Field(min_length=1, max_length=254)]
    accepted_tos: bool


class SignupOut(BaseModel):
    customer: CustomerOut
    accesskey: AccesskeyCreated


class TokenIn(Input):
    token: LinkToken


class PasswordForgotIn(Input):
    model_config = example({"username": "ada@example.com"})

    username: LoginText


class PasswordResetIn(Input):
    model_config = example(
        {
            "token": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "password": "a new long passphrase",
        }
    )

    token: LinkToken
    password: NewPassword


class EmailVerifyIn(TokenIn):
    # vbauth extension: a signup's keys survive its verification only if the person verifying
    # (the address's owner, who may not be whoever signed up) chooses to keep them.
    keep_signup_key: bool = False


class EmailVerifyOut(BaseModel):
    customer: CustomerOut


class SignupDetailsOut(BaseModel):
    """What the verification page shows about the signup it is about to verify."""

    signed_up: Timestamp
    from_ip: str
    keys: list[str]  # the prefixes of the keys the signup handed out


class DirectCreate(Input):
    model_config = example(
        {"resource_type": "ai", "resource_id": "3f1c4a8e-0d6b-4c1e-9a57-2b8f3d9e6c10"}
    )

    # Checked by the service, whose refusal names the allowed types.
    resource_type: Annotated[
        str, Field(min_length=1, max_length=32, json_schema_extra={"enum": DIRECT_RESOURCE_TYPES})
    ]
    resource_id: JsonUuid


class DirectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    customer_id: uuid.UUID
    resource_type: str
    resource_id: uuid.UUID
    hash: str
    tm_create: Timestamp
    tm_update: Timestamp | None
    tm_delete: Timestamp | None


class BootIn(Input):
    model_config = example({"direct_hash": "direct.9f86d081884c7d659a2feaa0c55ad015"})

    direct_hash: Annotated[str, Field(min_length=1, max_length=4096)]


class BootOut(BaseModel):
    token: str
    type: Literal["direct"] = "direct"
    resource_type: str
    resource_id: uuid.UUID
    customer_id: uuid.UUID
    expire: str
