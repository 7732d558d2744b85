"""A Llama decoder in plain torch: SmolLM2's forward pass, KV cache and token loop.

Why not transformers' `generate`: importing transformers costs three to four seconds (it pulls
in torch.distributed, dynamo, sympy and scikit-learn), which is most of a cold start; the
architecture itself is a page of tensor algebra. This follows transformers' `LlamaModel`
operation for operation (RMSNorm in float32, rotary embeddings, grouped-query attention,
gated SiLU MLP, tied output embeddings) and its repetition penalty, so greedy answers are the
same tokens (checked against transformers in `tests/llm/test_model_host.py`). transformers is
still what converts the GGUF file once (`smollm2.convert`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentdeck.kit.imports import import_heavy

_LAYER_WEIGHTS = (
    "input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
    "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LlamaConfig:
    """The shape of the model (from the saved ``config.json``)."""

    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    layers: int
    eps: float
    rope_theta: float

    @classmethod
    def read(cls, path: Path) -> LlamaConfig:
        """Read ``config.json``; raises ValueError for a model this decoder does not run."""
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        rope = raw.get("rope_parameters") or {"rope_theta": raw.get("rope_theta", 10000.0)}
        supported = (
            raw.get("model_type") == "llama"
            and raw.get("hidden_act", "silu") == "silu"
            and rope.get("rope_type", "default") == "default"
            and not raw.get("rope_scaling")
            and not raw.get("attention_bias")
            and not raw.get("mlp_bias")
            and raw.get("tie_word_embeddings", False)
        )
        if not supported:
            raise ValueError(f"{path} describes a model this decoder does not run")
        heads = int(raw["num_attention_heads"])
        return cls(
            hidden=int(raw["hidden_size"]),
            heads=heads,
            kv_heads=int(raw.get("num_key_value_heads") or heads),
            head_dim=int(raw.get("head_dim") or int(raw["hidden_size"]) // heads),
            layers=int(raw["num_hidden_layers"]),
            eps=float(raw["rms_norm_eps"]),
            rope_theta=float(rope["rope_theta"]),
        )


class Llama:
    """The decoder over float32 weights; one instance serves one generation at a time."""

    def __init__(self, config: LlamaConfig, weights: dict[str, Any]) -> None:
        self.config = config
        self._torch = import_heavy("torch")
        self._embed = weights["model.embed_tokens.weight"]
        self._norm = weights["model.norm.weight"]
        self._layers = [
            [weights[f"model.layers.{i}.{name}.weight"] for name in _LAYER_WEIGHTS]
            for i in range(config.layers)
        ]
        steps = self._torch.arange(0, config.head_dim, 2, dtype=self._torch.int64).float()
        self._inv_freq = 1.0 / (config.rope_theta ** (steps / config.head_dim))

    @classmethod
    def load(cls, directory: Path) -> Llama:
        """Load ``config.json`` and ``model.safetensors`` from ``directory`` (blocking)."""
        safetensors = import_heavy("safetensors.torch")
        config = LlamaConfig.read(directory / "config.json")
        return cls(config, safetensors.load_file(str(directory / "model.safetensors")))

    def _rms(self, x: Any, weight: Any) -> Any:
        variance = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * self._torch.rsqrt(variance + self.config.eps))

    def _rotary(self, start: int, count: int) -> tuple[Any, Any]:
        torch = self._torch
        positions = torch.arange(start, start + count, dtype=torch.float32)
        freqs = torch.outer(positions, self._inv_freq)
        angles = torch.cat([freqs, freqs], dim=-1)
        return angles.cos(), angles.sin()

    def _rotate(self, x: Any, cos: Any, sin: Any) -> Any:
        half = self.config.head_dim // 2
        rotated = self._torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin

    def forward(self, ids: list[int], start: int, cache: list[tuple[Any, Any]]) -> Any:
        """The next token's logits after ``ids`` at positions ``start``... (``cache`` holds
        the keys and values of the positions before, and receives these)."""
        torch, f, c = self._torch, self._torch.nn.functional, self.config
        count = len(ids)
        x = self._embed[torch.tensor(ids)]
        cos, sin = self._rotary(start, count)
        end = start + count
        for (norm1, norm2, wq, wk, wv, wo, gate, up, down), (keys, values) in zip(
            self._layers, cache, strict=True
        ):
            h = self._rms(x, norm1)
            q = f.linear(h, wq).view(count, c.heads, c.head_dim).transpose(0, 1)
            k = f.linear(h, wk).view(count, c.kv_heads, c.head_dim).transpose(0, 1)
            keys[:, start:end] = self._rotate(k, cos, sin)
            values[:, start:end] = (
                f.linear(h, wv).view(count, c.kv_heads, c.head_dim).transpose(0, 1)
            )
            attended = f.scaled_dot_product_attention(
                self._rotate(q, cos, sin)[None],
                keys[None, :, :end],
                values[None, :, :end],
                is_causal=count > 1,
                enable_gqa=True,
            )[0]
            x = x + f.linear(attended.transpose(0, 1).reshape(count, c.hidden), wo)
            h = self._rms(x, norm2)
            x = x + f.linear(f.silu(f.linear(h, gate)) * f.linear(h, up), down)
        return f.linear(self._rms(x[-1:], self._norm), self._embed)[0]

    def new_cache(self, length: int) -> list[tuple[Any, Any]]:
        """Room for the keys and values of ``length`` positions."""
        shape = (self.config.kv_heads, length, self.config.head_dim)
        return [
            (self._torch.empty(shape), self._torch.empty(shape)) for _ in range(self.config.layers)
        ]

    def tokens(
        self,
        prompt: list[int],
        *,
        max_new_tokens: int,
        stop_ids: list[int],
        repetition_penalty: float,
        temperature: float | None,
        stop: threading.Event,
    ) -> Iterator[int]:
        """Yield the answer's tokens one by one, the end-of-turn token included, until that
        token, ``max_new_tokens`` or ``stop`` (checked before every token).

        Greedy unless ``temperature``; every token already in the sequence has its logit
        divided (positive) or multiplied (negative) by ``repetition_penalty`` first, as in
        transformers' `RepetitionPenaltyLogitsProcessor`.
        """
        torch = self._torch
        cache = self.new_cache(len(prompt) + max_new_tokens)
        sequence = list(prompt)
        seen = torch.zeros(self._embed.shape[0], dtype=torch.bool)
        seen[torch.tensor(prompt)] = True
        with torch.inference_mode():
            logits = self.forward(prompt, 0, cache)
            for _ in range(max_new_tokens):
                if stop.is_set():
                    return
                penalised = torch.where(
                    logits < 0, logits * repetition_penalty, logits / repetition_penalty
                )
                logits = torch.where(seen, penalised, logits)
                if temperature:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    token = int(torch.multinomial(probs, 1))
                else:
                    token = int(torch.argmax(logits))
                yield token
                if token in stop_ids:
                    return
                seen[token] = True
                sequence.append(token)
                logits = self.forward([token], len(sequence) - 1, cache)
