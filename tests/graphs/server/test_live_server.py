"""The HTTP service on a real uvicorn server on loopback, and a schemathesis fuzz run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from graphs.server.app import create_app
from graphs.workflows import deal_review
from stores.settings import Settings
from tests.graphs.graph_doubles import slow_registry
from tests.graphs.server.auth_support import key_headers, make_key
from tests.graphs.server.live_server import ServerThread


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(create_app(settings)) as running:
        yield running


async def test_real_server_on_loopback(server: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        invoked = await client.post("/graphs/deal_review/invoke", json={"deal_ids": ["D-00004"]})
        assert invoked.status_code == 200
        assert invoked.json()["deals"]["D-00004"]["report"]["health_score"] is not None
        kinds = []
        async with client.stream("POST", "/graphs/deal_review/stream", json={}) as response:
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    kinds.append(line.removeprefix("event: "))
        node_count = len(deal_review.build_graph().nodes) - 1  # `select` runs for selections only
        assert kinds[-1] == "end" and kinds.count("update") == node_count
        concurrent = await asyncio.gather(
            *(
                client.post("/graphs/deal_review/invoke", json={"deal_ids": [f"D-{i:05d}"]})
                for i in range(1, 21)
            )
        )
        assert [r.status_code for r in concurrent] == [200] * 20
        assert (await client.get("/readyz")).status_code == 200


async def test_client_leaving_mid_stream_frees_its_slot(settings: Settings) -> None:
    """A stream abandoned after its first event is stopped and counted out promptly."""
    with ServerThread(create_app(settings, registry=slow_registry(1.0))) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            async with client.stream("POST", "/graphs/deal_review/stream", json={}) as response:
                async for line in response.aiter_lines():
                    if line.startswith("event: update"):
                        break  # leave while the slow agent is still running
            for _ in range(300):
                figures = (await client.get("/stats")).json()["http"]
                if figures["active"] == 0 and figures["in_flight"] == 0:
                    break
                await asyncio.sleep(0.01)
            assert figures["active"] == 0 and figures["in_flight"] == 0, figures
            after = await client.post("/graphs/deal_review/invoke", json={})
            assert after.status_code == 200


async def test_schemathesis_finds_no_server_errors(settings: Settings) -> None:
    """Schema-driven fuzzing of every operation, authenticated with a key: no 5xx,
    responses match the document, and schemathesis's own probes find that every
    operation the document secures refuses requests without (or with wrong) credentials."""
    _, key = await make_key(settings, "fuzzer")
    with ServerThread(create_app(settings)) as server:
        await asyncio.to_thread(_fuzz, server, key)


def _fuzz(server: ServerThread, key: str) -> None:
    auth = key_headers(key)
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 32  # the engine's, the dashboard's and the SDK API's
    failures: list[str] = []
    for operation in operations:
        examples = 15 if operation.method.upper() == "POST" else 3

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(base_url=server.url, timeout=30, headers=auth,
                                 allow_redirects=False)  # fmt: skip
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path}: {response.status_code} {response.text[:200]}"
                )
            # DealReviewInput rejects blank deal ids, which its JSON Schema does not say;
            # so schema-valid bodies can get a (correct) 422: skip only that check.
            case.validate_response(response, excluded_checks=[positive_data_acceptance],
                                   headers=auth)  # fmt: skip

        check()
    assert failures == []
