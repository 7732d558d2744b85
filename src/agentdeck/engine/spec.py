"""The agent definition: one Pydantic model, published as JSON Schema.

An agent is a DAG of typed nodes. Edges come from `needs`; string fields marked as
templated (see each node's `TEMPLATED`) are rendered with Jinja2 just before the node runs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Required

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)
from typing_extensions import TypedDict

from agentdeck.engine.errors import ErrorKind

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> object:
    """Turn "10s", "500ms", "2m", "1h" or a number into seconds (float).

    Anything else is passed through so Pydantic reports it as an invalid number.
    """
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match is None:
            raise ValueError("expected a duration like '10s', '500ms', '2m' or a number of seconds")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(gt=0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"},
            ],
            "description": "Seconds, or a string such as '500ms', '10s', '2m', '1h'.",
        }
    ),
]

NodeId = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
JSONSchemaDoc = dict[str, JsonValue]

DEFAULT_RETRY_ON: tuple[ErrorKind, ...] = ("timeout", "network", "http_5xx", "rate_limit", "llm")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RetryPolicy(_Strict):
    """How often and how fast a failing node is retried."""

    max_attempts: int = Field(3, ge=1, le=50)
    backoff: Literal["exponential", "fixed"] = "exponential"
    initial_delay: Duration = 0.5
    max_delay: Duration = 30.0
    jitter: bool = True
    # A tuple keeps the policy hashable, so the shared NO_RETRY default is not deep-copied
    # into every node that leaves `retry` out (a large share of validating a big graph).
    retry_on: tuple[ErrorKind, ...] = DEFAULT_RETRY_ON


NO_RETRY = RetryPolicy(max_attempts=1)


class NodeBase(_Strict):
    """Options every node type shares."""

    TEMPLATED: ClassVar[tuple[str, ...]] = ()
    """Fields rendered as templates before the node runs."""

    id: NodeId
    description: str | None = None
    needs: list[str] = Field(default_factory=list)
    when: str | None = Field(
        None, description="Expression; the node is skipped when it is falsy. Braces optional."
    )
    for_each: str | None = Field(
        None, description="Expression yielding a list; the node runs once per `item`."
    )
    max_concurrency: int = Field(4, ge=1, le=256)
    retry: RetryPolicy = NO_RETRY
    timeout: Duration | None = None
    on_error: str = Field(
        "fail", description="`fail` (the run fails), `continue` (use `default`), or a node id."
    )
    default: JsonValue = Field(None, description="Output used when on_error is `continue`.")


SearchMode = Literal["vector", "fulltext", "hybrid"]
ToolRef = Annotated[str, Field(min_length=1, max_length=300)]
KnowledgeBaseRef = Annotated[str, Field(min_length=1, max_length=200)]
FILTERS_DOC = "Metadata filters: each key must equal the value, or be one of the values of a list."
CITATIONS_DOC = (
    "Output `{text, citations}`, the `[n]` markers of the answer resolved to the passages "
    "of the retrieval nodes this node's templates read and of its knowledge tool (unknown "
    "markers are removed). Default: on when the node has such passages and no output_schema."
)


class KnowledgeSearch(_Strict):
    """How the `knowledge_search` tool of an agent node searches."""

    top_k: int = Field(5, ge=1, le=50, description="Passages per search unless the model asks.")
    max_top_k: int = Field(20, ge=1, le=100, description="Most passages the model may ask for.")
    mode: SearchMode = "hybrid"
    filters: dict[str, JsonValue] | None = Field(None, description=FILTERS_DOC)
    min_score: float | None = None


class ChatMessageSpec(_Strict):
    role: Literal["system", "user", "assistant"]
    content: str


class PromptRef(TypedDict, total=False):
    """A stored prompt (`prompt` feature): by `label` or `version` (default: the latest).
    `variables` (templated) must satisfy the version's JSON Schema."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    ref: Required[Annotated[str, Field(min_length=1, max_length=200)]]
    label: Annotated[str, Field(min_length=1, max_length=50)]
    version: Annotated[int, Field(ge=1)]
    variables: dict[str, JsonValue]


PROMPT_DOC = (
    "The user message: a template, or a stored prompt `{ref, label | version, variables}` "
    "rendered with its variables (the run's events record the version used)."
)


class LlmNode(NodeBase):
    """One model call. With `output_schema` the reply is parsed and validated as JSON."""

    TEMPLATED: ClassVar[tuple[str, ...]] = ("prompt", "system", "messages")
    type: Literal["llm"]
    model: str = "default"
    # A plain dict at run time (a TypedDict), so templates render its values like any field.
    prompt: str | PromptRef | None = Field(None, description=PROMPT_DOC)
    system: str | None = None
    messages: list[ChatMessageSpec] | None = None
    output_schema: JSONSchemaDoc | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    stream: bool = True
    citations: bool | None = Field(None, description=CITATIONS_DOC)

    @model_validator(mode="after")
    def _needs_a_prompt(self) -> LlmNode:
        if self.prompt is None and not self.messages:
            raise ValueError("an llm node needs `prompt` or `messages`")
        if isinstance(self.prompt, dict) and {"label", "version"} <= self.prompt.keys():
            raise ValueError("a stored prompt takes `label` or `version`, not both")
        return self


class ThreadMemory(_Strict):
    """The thread's messages, kept across runs; the oldest summarised past `max_tokens`."""

    max_tokens: int = Field(
        ge=64,
        le=1_000_000,
        description="Most tokens (estimated) of unsummarised history sent to the model; past "
        "it the oldest turns are folded into a running summary (a tool call never apart "
        "from its result), leaving about half.",
    )
    summary_model: str | None = Field(
        None, description="Model alias that writes the summary; default: the node's model."
    )


class LongTermMemory(_Strict):
    """`remember` and `recall` tools over the store, in one namespace per user or space."""

    scope: Literal["user", "space"] = Field(
        "user",
        description="`user`: what the run's user (and the /v1 `user`) was told; `space`: "
        "shared by every run of the space.",
    )
    recall_limit: int = Field(5, ge=1, le=50, description="Memories one `recall` returns.")


class AgentMemory(_Strict):
    """Memory of a conversational agent (see `ThreadMemory`, `LongTermMemory`)."""

    thread: ThreadMemory | None = None
    long_term: LongTermMemory | None = None


class AgentNode(NodeBase):
    """A tool-calling loop: the model calls tools (and other agents) until it answers."""

    TEMPLATED: ClassVar[tuple[str, ...]] = ("instructions", "prompt")
    type: Literal["agent"]
    model: str = "default"
    instructions: str | None = None
    # A plain dict at run time (a TypedDict), so templates render its values like any field.
    prompt: str | PromptRef = Field(description=PROMPT_DOC)
    tools: list[ToolRef] = Field(
        default_factory=list,
        description="Tools the model may call: `<toolset>.<tool>` for one tool, or a "
        "toolset's name for all of its tools (toolsets of the agent's space).",
    )
    approve: list[ToolRef] = Field(
        default_factory=list,
        description="Tools (`<toolset>.<tool>`, among `tools`) whose every call waits for a "
        "person: the run is interrupted with the tool and its arguments, and resumed with "
        "`{action: approve | reject | edit, arguments}`.",
    )
    agents: list[str] = Field(default_factory=list, description="Agents callable as tools.")
    max_iterations: int = Field(10, ge=1, le=100)
    output_schema: JSONSchemaDoc | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    knowledge_bases: list[KnowledgeBaseRef] = Field(
        default_factory=list,
        description="Offer the built-in tool `knowledge_search` over these knowledge bases "
        "(names or ids in the agent's space): the model decides when and what to search.",
    )
    knowledge_search: KnowledgeSearch = Field(
        default_factory=KnowledgeSearch,
        description="Search settings of the `knowledge_search` tool.",
    )
    citations: bool | None = Field(None, description=CITATIONS_DOC)
    memory: AgentMemory | None = Field(
        None, description="Thread memory and long-term memory of a conversational agent."
    )
    stream: bool = Field(True, description="Stream the model's tokens as `message.delta`.")

    @model_validator(mode="after")
    def _one_prompt_version(self) -> AgentNode:
        if isinstance(self.prompt, dict) and {"label", "version"} <= self.prompt.keys():
            raise ValueError("a stored prompt takes `label` or `version`, not both")
        return self


class RetrievalNode(NodeBase):
    """Search knowledge bases. The output is `{query, passages, context}`: `passages` are
    numbered from 1 with their citation (document, page, heading, offsets), `context` is
    the numbered passages as text for a prompt (`{{ steps.<id>.output.context }}`)."""

    TEMPLATED: ClassVar[tuple[str, ...]] = ("query", "filters")
    type: Literal["retrieval"]
    knowledge_bases: list[KnowledgeBaseRef] = Field(
        min_length=1, description="Names or ids of knowledge bases in the agent's space."
    )
    query: str = Field(min_length=1, description="Template of the search text.")
    top_k: int = Field(5, ge=1, le=100)
    mode: SearchMode = "hybrid"
    filters: dict[str, JsonValue] | None = Field(
        None, description=FILTERS_DOC + " Values may be templates."
    )
    min_score: float | None = Field(None, description="Drop passages scoring below this.")


class ToolNode(NodeBase):
    """Call one tool of the space's toolsets with templated arguments; its result is the
    node's output, a failure fails the node by its `on_error`."""

    TEMPLATED: ClassVar[tuple[str, ...]] = ("args",)
    type: Literal["tool"]
    tool: ToolRef = Field(description="`<toolset>.<tool>`, e.g. `github.create_issue`.")
    args: dict[str, JsonValue] = Field(
        default_factory=dict, description="The tool's arguments; values may be templates."
    )


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


class HttpNode(NodeBase):
    """An outbound HTTP request; JSON responses are parsed, others kept as text."""

    TEMPLATED: ClassVar[tuple[str, ...]] = ("url", "headers", "params", "json_body", "body")
    type: Literal["http"]
    method: HttpMethod = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    json_body: JsonValue = Field(None, alias="json")
    body: str | None = None

    @model_validator(mode="after")
    def _one_body(self) -> HttpNode:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give either `json` or `body`, not both")
        return self


class TransformNode(NodeBase):
    """Build a JSON value from templates; no I/O."""

    TEMPLATED: ClassVar[tuple[str, ...]] = ("value",)
    type: Literal["transform"]
    value: JsonValue


class HumanNode(NodeBase):
    """Pause the run until a person answers; the answer becomes this node's output."""

    TEMPLATED: ClassVar[tuple[str, ...]] = ("message",)
    type: Literal["human"]
    message: str
    response_schema: JSONSchemaDoc | None = Field(None, alias="schema")


class SubagentNode(NodeBase):
    """Start a child run of another agent and wait for its output."""

    TEMPLATED: ClassVar[tuple[str, ...]] = ("inputs",)
    type: Literal["subagent"]
    agent: str
    inputs: dict[str, JsonValue] = Field(default_factory=dict)


Node = Annotated[
    LlmNode
    | AgentNode
    | RetrievalNode
    | ToolNode
    | HttpNode
    | TransformNode
    | HumanNode
    | SubagentNode,
    Field(discriminator="type"),
]
NODE_TYPES: tuple[type[NodeBase], ...] = (
    LlmNode,
    AgentNode,
    RetrievalNode,
    ToolNode,
    HttpNode,
    TransformNode,
    HumanNode,
    SubagentNode,
)


class AgentSpec(_Strict):
    """An agent definition (YAML or JSON). `AgentSpec.model_json_schema()` publishes it."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    description: str | None = None
    inputs: JSONSchemaDoc | None = Field(None, description="JSON Schema of the run inputs.")
    nodes: list[Node] = Field(min_length=1)
    output: JsonValue = Field(
        None, description="Template of the run output; default: the output of the last node."
    )
    max_steps: int = Field(1000, ge=1, le=100_000, description="Budget of step attempts.")
    timeout: Duration | None = None
    mcp: bool = Field(
        False, description="Offer this agent as a tool of agentdeck's MCP server (/mcp)."
    )

    # Per-spec derived data (graph, compiled templates) cached by the engine.
    _engine_cache: dict[str, Any] = PrivateAttr(default_factory=dict)

    def node(self, node_id: str) -> Node:
        """The node with this id; raises KeyError."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)
