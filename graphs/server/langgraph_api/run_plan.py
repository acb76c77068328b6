"""What one run of the LangGraph API executes with beside its input: its `RunPlan`.

`plan_run` checks a run body once, before the run exists, and refuses with a 422 naming
the field what it cannot honour: ``feedback_keys`` and ``langsmith_tracer`` (LangSmith
only), ``strict_resume=false`` (a resume here always answers a waiting interrupt),
``interrupt_before`` / ``interrupt_after`` / ``checkpoint_id`` on a run without a thread
(no checkpoints to pause in or fork from), a checkpoint in a subgraph's namespace, a
webhook to a host not allowed, ``context`` beside ``config.configurable`` (LangGraph
mirrors one into the other: without a context, the configurable is the context), and a
context its graph's own context schema refuses.

The plan's `kwargs` are the run record's ``kwargs`` (LangGraph's names: ``input``,
``command``, ``config``, ``context``, ``stream_mode``, ``subgraphs``, ``resumable``,
``interrupt_before``, ``interrupt_after``, ``checkpoint_id``, ``durability``,
``webhook``, ``on_disconnect``, ``after_seconds``, ``temporary``), and `from_kwargs`
reads a plan back from them (a run resumed after a restart runs as it was asked to).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from langgraph.types import Durability

from graphs.engine.streaming import StreamOptions, check_context, check_nodes
from graphs.server.langgraph_api.errors import ApiError
from graphs.server.langgraph_api.run_models import RunCreate
from graphs.server.langgraph_api.stream_events import langgraph_modes, requested_modes
from graphs.server.langgraph_api.webhooks import check_webhook

Disconnect = Literal["cancel", "continue"]


@dataclass(frozen=True)
class RunPlan:
    """How one run executes (see the module docstring)."""

    modes: tuple[str, ...] = ("values",)
    """The SDK stream modes the run's streams carry."""
    config: dict[str, Any] = field(default_factory=dict)
    """The run's LangGraph config: its assistant's under its own, context mirrored into
    ``configurable``, and ``checkpoint_id`` when it forks."""
    context: dict[str, Any] | None = None
    subgraphs: bool = False
    resumable: bool = False
    on_disconnect: Disconnect = "cancel"
    interrupt_before: list[str] | Literal["*"] | None = None
    interrupt_after: list[str] | Literal["*"] | None = None
    checkpoint_id: str | None = None
    durability: Durability | None = None
    webhook: str | None = None
    after_seconds: float = 0.0
    temporary: bool = False
    """A run without a thread (its thread id only names it)."""

    @property
    def options(self) -> StreamOptions:
        """What the engine runs it with."""
        return StreamOptions(
            subgraphs=self.subgraphs, interrupt_before=self.interrupt_before,
            interrupt_after=self.interrupt_after, checkpoint_id=self.checkpoint_id,
            durability=self.durability, context=self.context, events="events" in self.modes,
        )  # fmt: skip

    @property
    def langgraph_modes(self) -> tuple[Any, ...]:
        """The LangGraph stream modes its SDK modes need."""
        return langgraph_modes(self.modes)

    def kwargs(self, input: Any, command: Any) -> dict[str, Any]:
        """The run record's ``kwargs`` (see the module docstring)."""
        return {
            "input": input, "command": command, "config": self.config,
            "context": self.context, "stream_mode": list(self.modes),
            "subgraphs": self.subgraphs, "resumable": self.resumable,
            "interrupt_before": self.interrupt_before, "interrupt_after": self.interrupt_after,
            "checkpoint_id": self.checkpoint_id, "durability": self.durability,
            "webhook": self.webhook, "on_disconnect": self.on_disconnect,
            "after_seconds": self.after_seconds, "temporary": self.temporary,
        }  # fmt: skip

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> RunPlan:
        """The plan a run record's ``kwargs`` describe (defaults for what they lack)."""
        known = {k: kwargs[k] for k in cls.__dataclass_fields__ if kwargs.get(k) is not None}
        known["modes"] = tuple(kwargs.get("stream_mode") or ("values",))
        return cls(**{k: v for k, v in known.items() if k != "stream_mode"})


def _refuse(field: str, why: str) -> ApiError:
    return ApiError(422, f"{field}: {why}")


def _checkpoint_id(body: RunCreate, thread_id: str | None, threaded: bool) -> str | None:
    ref = body.checkpoint
    chosen = body.checkpoint_id
    if ref is not None:
        if ref.checkpoint_ns:
            raise _refuse("checkpoint.checkpoint_ns", "runs start from the graph's own "
                          "checkpoints (an empty namespace), not a subgraph's")  # fmt: skip
        if ref.thread_id is not None and ref.thread_id != thread_id:
            raise _refuse("checkpoint.thread_id", "is not the run's thread")
        if chosen is not None and ref.checkpoint_id not in (None, chosen):
            raise _refuse("checkpoint", "names another checkpoint than checkpoint_id")
        chosen = chosen or ref.checkpoint_id
    if chosen is not None and not threaded:
        raise _refuse("checkpoint_id", "a run without a thread has no checkpoints")
    return chosen


def _durability(body: RunCreate) -> Durability | None:
    if body.checkpoint_during is not None:
        if body.durability is not None:
            raise _refuse("checkpoint_during", "give durability only (checkpoint_during is "
                          "its deprecated form)")  # fmt: skip
        return "async" if body.checkpoint_during else "exit"
    return body.durability


def _config(body: RunCreate, config: dict[str, Any], checkpoint_id: str | None) -> dict[str, Any]:
    config = dict(config)
    if body.context:
        if (body.config or {}).get("configurable"):
            raise _refuse("context", "give either context or config.configurable, not both "
                          "(LangGraph mirrors context into config.configurable)")  # fmt: skip
        config["configurable"] = {**config.get("configurable", {}), **body.context}
    if checkpoint_id is not None:
        config["configurable"] = {**config.get("configurable", {}),
                                  "checkpoint_id": checkpoint_id}  # fmt: skip
    return config


# Keys of ``config.configurable`` the server or LangGraph sets, never the caller's context.
_SERVER_CONFIGURABLE = frozenset(
    {"assistant_id", "graph_id", "thread_id", "run_id", "checkpoint_id", "checkpoint_ns"}
)


def plan_run(
    body: RunCreate,
    *,
    graph: Any,
    graph_name: str,
    thread_id: str | None,
    threaded: bool,
    config: dict[str, Any],
    webhook_hosts: Iterable[str] = (),
) -> RunPlan:
    """The checked plan of a run `body` (see the module docstring): `graph` is the
    compiled graph it runs, `threaded` whether it runs on a thread (`thread_id`, None
    while a thread is still to be made for it), `config` its
    assistant's config merged with its own (`assistants.run_config`)."""
    if body.feedback_keys:
        raise _refuse("feedback_keys", "LangSmith feedback is not available on this server")
    if body.langsmith_tracer:
        raise _refuse("langsmith_tracer", "LangSmith tracing is not available on this server "
                      "(runs are traced with OpenTelemetry)")  # fmt: skip
    if body.strict_resume is False:
        raise _refuse("strict_resume", "a resume here always answers a waiting interrupt "
                      "(strict); leave it unset or true")  # fmt: skip
    modes = requested_modes(body.stream_mode)
    for name in ("interrupt_before", "interrupt_after"):
        nodes = getattr(body, name)
        if nodes is not None and not threaded:
            raise _refuse(name, "a run without a thread cannot pause (no checkpoints)")
        check_nodes(graph, graph_name, name, nodes)
    checkpoint_id = _checkpoint_id(body, thread_id, threaded)
    run_config = _config(body, config, checkpoint_id)
    # As LangGraph's server: no context given, the configurable is the context (less
    # what the server itself puts there: the assistant, the thread, the checkpoint).
    configured = {k: v for k, v in (config.get("configurable") or {}).items()
                  if k not in _SERVER_CONFIGURABLE}  # fmt: skip
    context = dict(body.context or configured)
    check_context(graph, graph_name, context)
    webhook = check_webhook(body.webhook, webhook_hosts) if body.webhook else None
    resumable = bool(body.stream_resumable)
    return RunPlan(
        modes=modes,
        config=run_config,
        context=context,
        subgraphs=bool(body.stream_subgraphs),
        resumable=resumable,
        on_disconnect=body.on_disconnect or ("continue" if resumable else "cancel"),
        interrupt_before=body.interrupt_before,
        interrupt_after=body.interrupt_after,
        checkpoint_id=checkpoint_id,
        durability=_durability(body),
        webhook=webhook,
        after_seconds=body.after_seconds or 0.0,
        temporary=not threaded,
    )  # fmt: skip
