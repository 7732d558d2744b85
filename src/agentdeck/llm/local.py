"""The offline default model as a pydantic-ai `Model`: SmolLM2-135M-Instruct on CPU.

The model itself (loading, decoding) is `agentdeck.modelhost.smollm2`; this is the adapter
the gateway calls. Where it generates is a `ChatEngine`, looked up at every call: the served
app installs its model host (`agentdeck.modelhost.host.ModelHost`, the same engine run in a
child process) with `use_engine`, so the serving process never imports torch; anywhere else
it is the in-process `LocalEngine`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic_ai import _utils
from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponseStreamEvent,
    SystemPromptPart,
    TextPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.profiles import ModelProfile
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RequestUsage

from agentdeck.modelhost.smollm2 import LocalEngine

LOCAL_MODEL_NAME = "smollm2-135m-instruct"
DEFAULT_MAX_NEW_TOKENS = 256
"""The answer's length when the request gives no ``max_tokens``."""
_PROFILE = ModelProfile(
    supports_tools=False,
    supports_json_schema_output=False,
    supports_json_object_output=False,
    default_structured_output_mode="prompted",
)


class ChatEngine(Protocol):
    """Where the local model generates: in this process (`LocalEngine`) or in the model host."""

    async def warm(self) -> None:
        """Load the model now (so the first answer does not wait for it)."""
        ...

    def generate(
        self, chat: list[dict[str, str]], max_new_tokens: int, temperature: float | None
    ) -> AsyncGenerator[tuple[str, int, int]]:
        """Yield `(text_delta, input_tokens, output_tokens_so_far)` as tokens are generated,
        ending with an empty delta carrying the final counts."""
        ...


_IN_PROCESS = LocalEngine()
_ENGINE: list[ChatEngine] = [_IN_PROCESS]


def engine() -> ChatEngine:
    """The process-wide engine of the local model: the model host's when one is installed,
    else the in-process one."""
    return _ENGINE[0]


def use_engine(chat_engine: ChatEngine | None) -> ChatEngine:
    """Make ``chat_engine`` the process-wide engine (None: the in-process one again); returns
    the one it replaces."""
    previous, _ENGINE[0] = _ENGINE[0], chat_engine or _IN_PROCESS
    return previous


def _chat_of(messages: list[ModelMessage], instructions: str | None) -> list[dict[str, str]]:
    chat: list[dict[str, str]] = []
    if instructions:
        chat.append({"role": "system", "content": instructions})
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, SystemPromptPart):
                    chat.append({"role": "system", "content": part.content})
                elif isinstance(part, UserPromptPart):
                    chat.append({"role": "user", "content": str(part.content)})
                elif isinstance(part, ToolReturnPart):
                    chat.append({"role": "user", "content": part.model_response_str()})
        else:
            text = "".join(p.content for p in message.parts if isinstance(p, TextPart))
            chat.append({"role": "assistant", "content": text})
    return chat


class LocalModel(Model):
    """pydantic-ai `Model` over the local engine: text only, structured output by prompting."""

    def __init__(self, model_name: str = LOCAL_MODEL_NAME, engine: ChatEngine | None = None):
        super().__init__(profile=_PROFILE)
        self._model_name = model_name
        self._engine = engine

    def _generate(
        self, chat: list[dict[str, str]], max_tokens: int, temperature: float | None
    ) -> AsyncGenerator[tuple[str, int, int]]:
        return (self._engine or engine()).generate(chat, max_tokens, temperature)

    @property
    def model_name(self) -> str:
        """The model name."""
        return self._model_name

    @property
    def system(self) -> str:
        """The provider system name."""
        return "local"

    def _prepare(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        params: ModelRequestParameters,
    ) -> tuple[list[dict[str, str]], int, float | None]:
        model_settings, params = self.prepare_request(model_settings, params)
        if params.function_tools or params.output_tools:
            raise UserError("The local model does not support tool calling")
        parts = self._get_instruction_parts(messages, params) or []
        instructions = "\n\n".join(p.content for p in parts) or None
        settings = model_settings or {}
        max_tokens = settings.get("max_tokens") or DEFAULT_MAX_NEW_TOKENS
        return _chat_of(messages, instructions), max_tokens, settings.get("temperature")

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        """Generate a complete answer."""
        chat, max_tokens, temperature = self._prepare(
            messages, model_settings, model_request_parameters
        )
        text: list[str] = []
        usage = RequestUsage()
        async for piece, input_tokens, output_tokens in self._generate(
            chat, max_tokens, temperature
        ):
            text.append(piece)
            usage = RequestUsage(input_tokens=input_tokens, output_tokens=output_tokens)
        return ModelResponse(
            parts=[TextPart(content="".join(text))],
            usage=usage,
            model_name=self._model_name,
            provider_name="local",
        )

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncGenerator[StreamedResponse]:
        """Stream the answer token by token."""
        chat, max_tokens, temperature = self._prepare(
            messages, model_settings, model_request_parameters
        )
        pieces = self._generate(chat, max_tokens, temperature)
        try:
            yield LocalStreamedResponse(
                model_request_parameters=model_request_parameters,
                _model_name=self._model_name,
                _pieces=pieces,
            )
        finally:
            await pieces.aclose()


@dataclass
class LocalStreamedResponse(StreamedResponse):
    """Streamed response of the local model."""

    _model_name: str = LOCAL_MODEL_NAME
    _pieces: AsyncIterator[tuple[str, int, int]] | None = None
    _timestamp: datetime = field(default_factory=_utils.now_utc)

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        assert self._pieces is not None
        async for piece, input_tokens, output_tokens in self._pieces:
            self._usage = RequestUsage(input_tokens=input_tokens, output_tokens=output_tokens)
            if piece:
                for event in self._parts_manager.handle_text_delta(
                    vendor_part_id="content", content=piece
                ):
                    yield event

    @property
    def model_name(self) -> str:
        """The model name."""
        return self._model_name

    @property
    def provider_name(self) -> str:
        """The provider name."""
        return "local"

    @property
    def provider_url(self) -> None:
        """No URL: the model runs on this machine (in-process or in the model host)."""
        return None

    @property
    def timestamp(self) -> datetime:
        """When the response started."""
        return self._timestamp
