"""An LLM service's serving model (the ``llm:`` block of a service): the batching curve,
prefill cost, KV-cache capacity, tokens per request, and the named presets.

The model these numbers drive is :mod:`capsim.models.llm` (continuous batching, one
pass per output token). A service with ``llm:`` runs requests one by one
(``service_model: exact``); its ``concurrency`` is the most sequences a replica runs at
once (vLLM's ``max_num_seqs``) and ``cpu_ms_per_request`` the host CPU a request costs
(tokenizing, HTTP): the GPU work is the pass times below.

**Presets** (``preset:``; any field written beside it wins) for Llama-3.1-8B in BF16 at
contexts near 1k tokens under vLLM, one GPU per replica. Each number says where it comes
from; where no measurement was published it is derived, and says how:

* ``a100-80gb-llama-3.1-8b``: a pass of ``10 + 0.2 × B`` ms: LambdaLabsML/vllm-benchmark
  measured a median TPOT of 12.01 ms for Llama-3-8B-Instruct on one A100-80GB SXM with
  10 prompts at once (``results/prompt_10/1xA100-80GB-SXM/..._tp1_len2048.json``), and
  reading 16.06 GB of weights at 2,039 GB/s at 77 % efficiency takes 10.2 ms; prefill
  0.08 ms/token (16 GFLOP a token at 60 % of 312 TFLOPS); KV cache 467,280 tokens (29,205
  blocks of 16 in inference-sim's ``defaults.yaml`` for this pair under vLLM 0.8.4).
* ``h100-llama-3.1-8b``: ``6 + 0.1 × B`` ms: inference-sim's fitted step base 5.75 ms and
  vLLM's v0.6.0 benchmark (median TPOT 25.57 ms with about 200 sequences on one H100 SXM);
  prefill 0.03 ms/token; KV cache 467,280 tokens (the same source).
* ``l4-llama-3.1-8b``: **derived, not measured** (no published benchmark of this pair was
  found): ``65 + 0.6 × B`` ms, the A100-40GB's measured 13.3 ms at batch 1 scaled by the
  bandwidths (1,555 / 300 GB/s), plus 128 KiB of KV read per sequence at 1k tokens;
  prefill 0.28 ms/token (16 GFLOP at ~55 % of the L4's 121 dense TFLOPS); KV cache 32,000
  tokens (24 GB × 0.9 less 15 GiB of weights and ~1 GiB of activations, at 128 KiB a
  token). Treat it as an estimate; measure your own server and write the fields.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from capsim.scenario.base import FrozenModel
from capsim.scenario.fields import Float, Int
from capsim.scenario.load.requests import read_requests
from capsim.scenario.load.specs import RequestsLoad

__all__ = ["LLM_PRESETS", "LlmServing", "TokenCount", "token_means"]

MAX_TOKENS = 10_000_000
MAX_PASS_MS = 60_000.0

LLM_PRESETS: dict[str, dict[str, float]] = {
    "a100-80gb-llama-3.1-8b": {
        "decode_base_ms": 10.0,
        "decode_ms_per_sequence": 0.2,
        "prefill_ms_per_token": 0.08,
        "kv_cache_tokens": 467_280,
        "weights_mib": 15_316.0,
        "kv_kib_per_token": 128.0,
    },
    "h100-llama-3.1-8b": {
        "decode_base_ms": 6.0,
        "decode_ms_per_sequence": 0.1,
        "prefill_ms_per_token": 0.03,
        "kv_cache_tokens": 467_280,
        "weights_mib": 15_316.0,
        "kv_kib_per_token": 128.0,
    },
    "l4-llama-3.1-8b": {
        "decode_base_ms": 65.0,
        "decode_ms_per_sequence": 0.6,
        "prefill_ms_per_token": 0.28,
        "kv_cache_tokens": 32_000,
        "weights_mib": 15_316.0,
        "kv_kib_per_token": 128.0,
    },
}
"""Named GPU/model pairs (module docstring: where each number comes from)."""


class TokenCount(FrozenModel):
    """Tokens per request drawn from a law: ``deterministic`` (every request ``mean``),
    ``lognormal`` or ``gamma`` with coefficient of variation ``cv``; rounded to a whole
    number, at least 1."""

    distribution: Literal["deterministic", "lognormal", "gamma"] = "lognormal"
    mean: Float = Field(ge=1, le=MAX_TOKENS)
    cv: Float | None = Field(default=None, gt=0, le=10)

    @model_validator(mode="after")
    def _cv_when_needed(self) -> TokenCount:
        if (self.distribution == "deterministic") != (self.cv is None):
            raise ValueError("cv: required for lognormal and gamma, not allowed for deterministic")
        return self


_PRESET_FIELDS = (
    "decode_base_ms",
    "decode_ms_per_sequence",
    "prefill_ms_per_token",
    "kv_cache_tokens",
)


def _preset_fills(schema: dict[str, Any]) -> None:
    """The JSON schema: the numbers a preset gives are not required beside it."""
    schema["required"] = [n for n in schema.get("required", []) if n not in _PRESET_FIELDS]
    if not schema["required"]:
        del schema["required"]


class LlmServing(FrozenModel):
    """An LLM server's batching curve, prefill cost and KV cache (module docstring);
    tokens per request from ``prompt_tokens``/``output_tokens`` or, when the service's
    load is a per-request trace with token columns, replayed from it. Without a
    ``preset``, the pass times and ``kv_cache_tokens`` are required."""

    model_config = ConfigDict(json_schema_extra=_preset_fills)

    preset: Literal["a100-80gb-llama-3.1-8b", "h100-llama-3.1-8b", "l4-llama-3.1-8b"] | None = None
    decode_base_ms: Float = Field(gt=0, le=MAX_PASS_MS)
    """Time of one pass with nothing but its fixed cost (reading the weights), ms."""
    decode_ms_per_sequence: Float = Field(ge=0, le=MAX_PASS_MS)
    """What each sequence in the batch adds to a pass, ms."""
    prefill_ms_per_token: Float = Field(ge=0, le=MAX_PASS_MS)
    """What each prompt token of a sequence joining the batch adds to that pass, ms."""
    kv_cache_tokens: Int = Field(ge=1, le=1_000_000_000)
    """Tokens the KV cache of one replica holds; a sequence reserves prompt + output."""
    weights_mib: Float = Field(default=0.0, ge=0, le=10_000_000)
    """GPU memory of the model's weights per replica (MiB), for the GPU memory reported."""
    kv_kib_per_token: Float = Field(default=0.0, ge=0, le=1_000_000)
    """GPU memory of one token's KV entries (KiB), for the GPU memory reported."""
    prompt_tokens: TokenCount | None = None
    output_tokens: TokenCount | None = None

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        """A preset's numbers under the fields written beside it."""
        if isinstance(data, dict) and isinstance(data.get("preset"), str):
            values = LLM_PRESETS.get(data["preset"])
            if values is not None:
                return {**values, **data}
        return data

    def pass_s(self, sequences: float, prompt_tokens: float = 0.0) -> float:
        """Seconds of one pass over ``sequences`` with ``prompt_tokens`` to prefill."""
        return (
            self.decode_base_ms
            + self.decode_ms_per_sequence * sequences
            + self.prefill_ms_per_token * prompt_tokens
        ) / 1000.0

    def request_s(self, batch: float, prompt_tokens: float, output_tokens: float) -> float:
        """Seconds a request of these mean tokens spends in a batch of ``batch`` sequences:
        its prefill pass and one pass per further token (the steady view the warm start
        and the expected model take of an LLM replica)."""
        return (
            output_tokens * self.pass_s(batch) + self.prefill_ms_per_token * prompt_tokens / 1000.0
        )

    def fitting_batch(self, prompt_tokens: float, output_tokens: float, slots: int) -> float:
        """Sequences of these mean tokens a replica runs at once: ``slots`` or what the KV
        cache holds, whichever is fewer (at least 1)."""
        return max(
            1.0,
            min(float(slots), math.floor(self.kv_cache_tokens / (prompt_tokens + output_tokens))),
        )


def token_means(llm: LlmServing, load: object, base_dir: Path) -> tuple[float, float]:
    """Mean prompt and output tokens per request: the laws' means, or the per-request
    trace's (``load``: a ``requests`` load whose file has both token columns). Raises
    ``ValueError`` naming the field when neither gives them."""
    if llm.prompt_tokens is not None and llm.output_tokens is not None:
        return llm.prompt_tokens.mean, llm.output_tokens.mean
    if not isinstance(load, RequestsLoad):
        raise ValueError(
            "llm.prompt_tokens: give prompt_tokens and output_tokens, or a load of type "
            "requests whose file has token columns"
        )
    trace = read_requests(load, base_dir=base_dir, where="load")
    if trace.prompt_tokens is None or trace.output_tokens is None:
        raise ValueError(
            f"llm.prompt_tokens: the load's file {load.path} has no column "
            f"{load.prompt_column!r} and {load.output_column!r}; give prompt_tokens and "
            "output_tokens"
        )
    return float(trace.prompt_tokens.mean()), float(trace.output_tokens.mean())
