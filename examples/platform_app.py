"""A small web app of "the platform" that runs Sophia workflows in-process.

The app holds one Engine for its whole life (opened in the lifespan, closed at
shutdown) and invokes graphs from its handlers, the way the platform embeds the engine
instead of calling `sophia serve` over HTTP:

    GET  /deals/{deal_id}/health   -> the deal's health score, status and reasons
    POST /pipeline/review          -> {"deal_ids": [...]}: a table of scores, worst first

Run it (the demo warehouse is seeded on first use; ``--host``/``--port`` choose where it
listens, default 127.0.0.1:8001) and try it:

    uv run python examples/platform_app.py [--host 127.0.0.1] [--port 8001]
    curl -s localhost:8001/deals/D-00001/health
    curl -s -X POST localhost:8001/pipeline/review -d '{"deal_ids": ["D-00001", "D-00002"]}'
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from graphs import Engine
from graphs.engine.errors import InvalidInputError
from stores.settings import Settings


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def deal_health(request: Request) -> JSONResponse:
    """One deal's health, from a deal review run."""
    deal_id = request.path_params["deal_id"]
    try:
        result = await _engine(request).invoke("deal_review", {"deal_ids": [deal_id]})
    except InvalidInputError as exc:
        return JSONResponse({"error": "invalid_input", "problems": exc.problems}, 422)
    report = result["deals"][deal_id]["report"]
    if deal_id and "deal not found in HubSpot" in report.get("reasons", []):
        return JSONResponse({"error": "not_found", "message": f"no deal {deal_id}"}, 404)
    return JSONResponse(
        {
            "deal_id": deal_id,
            "health_score": report["health_score"],
            "status": report["status"],
            "reasons": report["reasons"],
            "partial": result["status"] == "partial",
            "trace_id": result["trace_id"],
        }
    )


async def pipeline_review(request: Request) -> JSONResponse:
    """Several deals in one run (one batched read per source), worst first."""
    try:
        payload: Any = json.loads(await request.body() or b"{}")
        result = await _engine(request).invoke("deal_review", payload)
    except json.JSONDecodeError as exc:
        return JSONResponse({"error": "invalid_json", "message": str(exc)}, 400)
    except InvalidInputError as exc:
        return JSONResponse({"error": "invalid_input", "problems": exc.problems}, 422)
    rows = [
        {
            "deal_id": deal_id,
            "health_score": deal["report"]["health_score"],
            "status": deal["report"]["status"],
        }
        for deal_id, deal in result["deals"].items()
    ]
    rows.sort(key=lambda r: (r["health_score"] is None, r["health_score"] or 0))
    return JSONResponse({"deals": rows, "run_id": result["run_id"], "errors": result["errors"]})


def build_app(settings: Settings | None = None) -> Starlette:
    """The platform app; its Engine opens with the app and closes with it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with Engine(settings or Settings(), auto_seed=True) as engine:
            app.state.engine = engine
            yield

    return Starlette(
        routes=[
            Route("/deals/{deal_id}/health", deal_health, methods=["GET"]),
            Route("/pipeline/review", pipeline_review, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the platform app with uvicorn until interrupted (``--host``, ``--port``)."""
    import uvicorn

    parser = argparse.ArgumentParser(description="The platform app embedding one Engine.")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    args = parser.parse_args(argv)
    uvicorn.run(build_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
