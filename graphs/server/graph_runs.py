"""``POST /graphs/{name}/runs``: start a background run of a graph, answered at once.

The input is the graph's, as for ``/invoke``; the answer is ``202`` with the run's id, the
new thread of the caller's it runs on (which keeps its checkpoints and final values) and
the LangGraph API's URLs to follow it. The run is a LangGraph API run
(`graphs.server.langgraph_api.runs.RunManager`): it executes in this process, or, with
``SOPHIA_RUN_QUEUE=postgres``, on a worker, and every API server answers for it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from graphs.engine.errors import GraphError
from graphs.server import models
from graphs.server.body import BODY_TIMEOUT_S, BodyError, read_json
from graphs.server.caller import caller_of
from graphs.server.encoding import JSON
from graphs.server.errors import HttpError, graph_error, over_quota, overloaded
from graphs.server.langgraph_api.endpoint import app_runs
from graphs.server.langgraph_api.errors import api_error
from graphs.server.langgraph_api.run_models import RunCreate
from graphs.server.limits import OverloadedError
from graphs.server.quotas import QuotaExceededError


async def start_run(request: Request) -> Response:
    """``POST /graphs/{name}/runs``: 202 with the run's id and where to follow it."""
    name = request.path_params["name"]
    engine, caller = request.app.state.engine, caller_of(request)
    try:
        engine.spec(name)
        if not caller.may_use(name):
            raise HttpError(403, "forbidden", f"this key may not use graph {name}")
        security = getattr(request.app.state, "security", None)
        timeout_s = security.body_timeout_s if security is not None else BODY_TIMEOUT_S
        payload = await read_json(request, timeout_s=timeout_s)
        payload = {} if payload is None else payload
        engine.validate(name, payload)  # 422 naming each bad field, before anything else
        body = RunCreate(assistant_id=name, input=payload, on_completion="keep")
        run, _ = await app_runs(request.app).start(caller, name, name, None, body)
    except HttpError as exc:
        return exc.response()
    except GraphError as exc:
        return graph_error(exc).response()
    except BodyError as exc:
        return HttpError(exc.status, exc.code, exc.message).response()
    except QuotaExceededError as exc:
        return over_quota(exc).response()
    except OverloadedError as exc:
        return overloaded(exc).response()
    except Exception as exc:  # the run manager's refusals (409, 503, ...), as error bodies
        error = api_error(exc)
        if error is None:
            raise
        code = {409: "conflict", 503: "unavailable"}.get(error.status, "bad_request")
        return HttpError(error.status, code, error.detail, headers=error.headers).response()
    record = run.record
    base = f"/threads/{record.thread_id}/runs/{record.run_id}"
    accepted = models.RunAccepted(
        run_id=record.run_id, thread_id=record.thread_id or "", status="pending",
        links=models.RunLinks(run=base, join=f"{base}/join", stream=f"{base}/stream"),
    )  # fmt: skip
    return JSON(accepted, status_code=202, headers={"Location": base})
