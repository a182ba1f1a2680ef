"""The document's own promises, checked on every operation (schemathesis checks the answers)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from vbauth.app import create_app
from vbauth.settings import Settings


@pytest.fixture
def document(settings: Settings) -> dict[str, Any]:
    return create_app(settings).openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, items in document["paths"].items()
        for method, operation in items.items()
    ]


def test_no_operation_documents_fastapis_422_or_its_schemas(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    with_422 = [(m, p) for m, p, op in operations(document) if "422" in op["responses"]]
    assert with_422 == [("POST", "/auth/delegate")]  # VoIPBIN's code for a bad id or reason


def test_every_error_answer_is_the_envelope(document: dict[str, Any]) -> None:
    answers = document["components"]["responses"]
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                name = answer["$ref"].rsplit("/", 1)[-1]
                schema = answers[name]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_every_operation_says_who_may_call_it(document: dict[str, Any]) -> None:
    schemes = set(document["components"]["securitySchemes"])
    public = set()
    for method, path, operation in operations(document):
        assert "security" in operation, (method, path)
        for requirement in operation["security"]:
            assert set(requirement) <= schemes
        if operation["security"]:
            assert "401" in operation["responses"], (method, path)
        else:
            public.add((method, path))
    assert ("POST", "/auth/login") in public and ("POST", "/auth/boot") in public
    assert ("GET", "/v1.0/agents") not in public
    events = document["paths"]["/internal/events"]["post"]
    assert events["security"] == [{"eventsSecret": []}]


def test_operation_ids_are_unique_readable_and_voipbins_where_it_has_them(
    document: dict[str, Any],
) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][A-Za-z]*", operation_id) for operation_id in ids), ids
    boot = document["paths"]["/auth/boot"]["post"]
    assert boot["operationId"] == "postAuthBoot"


def test_lists_are_typed_and_times_are_date_times(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    listing = document["paths"]["/v1.0/agents"]["get"]["responses"]["200"]
    ref = listing["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schemas[ref]["properties"]["result"]["items"] == {
        "$ref": "#/components/schemas/AgentOut"
    }
    assert schemas["AgentOut"]["properties"]["tm_create"]["format"] == "date-time"
    assert schemas["AgentCreate"]["properties"]["password"]["minLength"] == 8
    assert schemas["AgentCreate"]["properties"]["username"]["format"] == "email"
    assert "agent" in schemas["DirectCreate"]["properties"]["resource_type"]["enum"]
    assert schemas["PasswordResetIn"]["properties"]["token"]["pattern"] == "[0-9a-f]{64}"


def test_the_link_pages_are_documented_as_html(document: dict[str, Any]) -> None:
    for path in ("/auth/email-verify", "/auth/password-reset"):
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert list(content) == ["text/html"]


def test_the_main_request_bodies_carry_examples(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("LoginIn", "AgentCreate", "AccesskeyCreate", "SignupIn", "DirectCreate", "BootIn"):
        assert schemas[name]["examples"], name
