"""``GET /metrics``: the figures move with the traffic, by route template and outcome, behind
``VBAUTH_METRICS``; with several workers a scrape adds every worker's up."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_settings
from tests.factories import PASSWORD, bearer, make_agent, make_customer
from tests.server import Server, running_server
from vbauth.app import create_app
from vbauth.runtime import Runtime
from vbauth.settings import Settings

pytestmark = pytest.mark.anyio

SCRAPE_SECRET = secrets.token_urlsafe(32)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def counted(
    database_url: str, tmp_path: Path, runtime: Runtime
) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own with metrics open (the shared one keeps them off), same database."""
    settings = make_settings(database_url, tmp_path, metrics="open")
    own = Runtime.build(settings)
    app = create_app(runtime=own)
    await own.start()
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://vbauth.test") as http:
        yield http
    await own.close()


async def test_the_figures_move_with_the_traffic(
    counted: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    agent = await make_agent(runtime, tenant.customer.id)
    before = samples((await counted.get("/metrics")).text)

    for _ in range(3):
        assert (await counted.get("/ping")).status_code == 200
    login = await counted.post(
        "/auth/login", json={"username": tenant.admin.username, "password": PASSWORD}
    )
    token = login.json()["token"]
    counted.cookies.clear()  # each request below carries the credential it names
    assert (
        await counted.post("/auth/login", json={"username": "x", "password": "y"})
    ).status_code == 401
    for _ in range(2):
        got = await counted.get(f"/v1.0/agents/{agent.id}", headers=bearer(token))
        assert got.status_code == 200
    assert (await counted.get("/v1.0/me", headers=bearer("not.a.token"))).status_code == 401
    assert (await counted.get("/no/such/place")).status_code == 404

    after = samples((await counted.get("/metrics")).text)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "vbauth_requests_total"
    assert moved(requests, route="/ping", method="GET", status="200") == 3
    assert moved(requests, route="/v1.0/agents/{agent_id}", method="GET", status="200") == 2
    assert moved(requests, route="/auth/login", method="POST", status="401") == 1
    assert moved(requests, route="unmatched", method="GET", status="404") == 1
    latency = "vbauth_request_duration_seconds_count"
    assert moved(latency, route="/v1.0/agents/{agent_id}") == 2
    auth = "vbauth_authentications_total"
    assert moved(auth, kind="agent", outcome="ok") == 2
    assert moved(auth, kind="token", outcome="INVALID_CREDENTIALS") == 1
    assert moved("vbauth_logins_total", outcome="succeeded") == 1
    assert moved("vbauth_logins_total", outcome="failed") == 1
    assert moved("vbauth_login_duration_seconds_count") == 2
    cache = "vbauth_identity_cache_total"
    assert moved(cache, result="miss") >= 1 and moved(cache, result="hit") >= 1
    assert ("vbauth_mail_outbox_waiting", frozenset()) in after
    assert ("vbauth_database_connections", frozenset({("state", "in_use")})) in after


async def test_metrics_are_off_open_or_behind_a_secret(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    off = await client.get("/metrics")  # the shared app: the default, off
    assert off.status_code == 404
    settings = make_settings(database_url, tmp_path, metrics=SCRAPE_SECRET)
    own = Runtime.build(settings)
    transport = httpx.ASGITransport(app=create_app(runtime=own))
    async with httpx.AsyncClient(transport=transport, base_url="https://vbauth.test") as http:
        assert (await http.get("/metrics")).status_code == 401
        wrong = await http.get("/metrics", headers=bearer("not-the-secret"))
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        right = await http.get("/metrics", headers=bearer(SCRAPE_SECRET))
        assert right.status_code == 200
        assert "vbauth_requests_total" in right.text
    await own.close()


def test_a_weak_scrape_secret_is_refused_and_the_words_are_any_case() -> None:
    with pytest.raises(ValueError, match="the scrape secret must be at least 32"):
        Settings.model_validate({"metrics": "short"})
    assert Settings.model_validate({"metrics": "OFF"}).metrics.get_secret_value() == "off"
    assert Settings.model_validate({"metrics": " Open "}).metrics.get_secret_value() == "open"


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("metrics"), workers=2, VBAUTH_METRICS="open"
    ) as server:
        yield server


def test_two_workers_are_counted_together(two_workers: Server) -> None:
    with httpx.Client(base_url=two_workers.base) as http:
        before = samples(http.get("/metrics").text)
        for _ in range(40):
            assert http.get("/ping").status_code == 200
        totals_seen = set()
        for _ in range(6):  # whichever worker answers the scrape, the sum is the same
            after = samples(http.get("/metrics").text)
            counted = value(
                after, "vbauth_requests_total", route="/ping", method="GET", status="200"
            )
            totals_seen.add(counted)
    assert totals_seen == {
        value(before, "vbauth_requests_total", route="/ping", method="GET", status="200") + 40
    }
    directory = two_workers.data_dir / "metrics"
    assert len(list(directory.glob("counter_*.db"))) == 2  # one file per worker, added up
