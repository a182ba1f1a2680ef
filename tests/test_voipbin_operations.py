"""Every operation of VoIPBIN's auth subset is served by vbauth, or named in the README as a
deliberate difference (its section "Differences from VoIPBIN")."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute

from vbauth.app import create_app
from vbauth.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SUBSET = Path(__file__).with_name("data") / "voipbin-openapi-auth-subset.yaml"
METHODS = {"get", "put", "post", "delete", "patch"}


def voipbin_operations() -> set[tuple[str, str]]:
    """(METHOD, path) as a client calls them: the document's paths are under /v1.0, but /auth."""
    document = yaml.safe_load(SUBSET.read_text())
    return {
        (method.upper(), path if path.startswith("/auth/") else f"/v1.0{path}")
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS
    }


def shape(path: str) -> str:
    """A path with its parameters unnamed: /v1.0/agents/{agent_id} is /v1.0/agents/{}."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def served(app: FastAPI) -> set[tuple[str, str]]:
    operations = {
        (method.upper(), shape(path))
        for path, items in app.openapi()["paths"].items()
        for method in items
    }
    sockets = {("GET", shape(r.path)) for r in app.routes if isinstance(r, APIWebSocketRoute)}
    return operations | sockets


def named_as_differences() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Differences from VoIPBIN")
    return readme[start : readme.index("\n## ", start + 1)]


def mentions(text: str, method: str, path: str) -> bool:
    """The README names the operation as ``METHOD /path`` or in a list ``GET`, `POST /path``."""
    unwrapped = re.sub(r"\s+", " ", text)
    return (
        re.search(
            rf"`{method}[`,][^.]*?`?{re.escape(path)}`|`{method} {re.escape(path)}`", unwrapped
        )
        is not None
    )


def test_every_voipbin_operation_is_served_or_named_as_a_difference(settings: Settings) -> None:
    ours = served(create_app(settings))
    differences = named_as_differences()
    missing = sorted(
        (method, path)
        for method, path in voipbin_operations()
        if (method, shape(path)) not in ours and not mentions(differences, method, path)
    )
    assert missing == [], f"neither served nor listed in the README's differences: {missing}"


def test_the_comparison_can_fail() -> None:
    """The matcher tells an operation the README names from one it does not."""
    text = "`GET`, `POST /v1.0/calls` and `POST /v1.0/ais/{id}/direct-hash-regenerate` are theirs."
    assert mentions(text, "POST", "/v1.0/calls") and mentions(text, "GET", "/v1.0/calls")
    assert mentions(text, "POST", "/v1.0/ais/{id}/direct-hash-regenerate")
    assert not mentions(text, "DELETE", "/v1.0/calls")
    assert not mentions(text, "POST", "/v1.0/teams/{id}/direct-hash-regenerate")
