"""The SKU catalog: what each SKU is (model, usage type, unit) and what one ledger unit costs."""

from __future__ import annotations

from decimal import Decimal

from usagebook.store import skus as store
from usagebook.store.engine import Database
from usagebook.store.skus import SkuRow
from usagebook.timeutil import now_ms

MODEL_TYPES = ("LLM", "IMAGE", "TTS", "ASR", "VIDEO", "EMBEDDING")
UNIT_TYPES = ("tokens", "images", "chars", "minutes", "seconds")
MILLION = Decimal(1_000_000)


def _llm(model_id: str, name: str, prices: dict[str, str]) -> list[SkuRow]:
    suffix = {"Input": "input", "Output": "output", "Cache Read": "cache-read",
              "Cache Write": "cache-write"}
    return [
        SkuRow(f"{model_id}-llm-{suffix[usage]}-mtoken", model_id, name, "LLM", "tokens",
               MILLION, usage, Decimal(price))
        for usage, price in prices.items()
    ]


def _single(model_id: str, name: str, model_type: str, unit: str, per: Decimal, usage: str,
            sku_suffix: str, price: str) -> SkuRow:
    return SkuRow(f"{model_id}-{sku_suffix}", model_id, name, model_type, unit, per, usage,
                  Decimal(price))


DEMO_CATALOG: list[SkuRow] = [
    *_llm("llama-3.3-70b", "Llama 3.3 70B", {"Input": "0.7", "Output": "2.8"}),
    *_llm("qwen3-235b", "Qwen 3 235B", {"Input": "0.9", "Output": "4.5", "Cache Read": "0.45"}),
    *_llm("deepseek-r1-671b", "DeepSeek R1 671B", {"Input": "3.5", "Output": "7"}),
    *_llm("mistral-31-24b", "Mistral Small 3.1 24B", {"Input": "0.5", "Output": "2"}),
    *_llm("venice-uncensored", "Venice Uncensored", {"Input": "0.5", "Output": "2"}),
    *_llm("qwen3-4b", "Venice Small", {"Input": "0.15", "Output": "0.6"}),
    *_llm("zai-org-glm-4.6", "GLM 4.6", {"Input": "0.85", "Output": "2.75", "Cache Read": "0.3",
                                         "Cache Write": "1.05"}),
    *_llm("llama-3.2-3b", "Llama 3.2 3B", {"Input": "0.15", "Output": "0.6"}),
    _single("venice-sd35", "Venice SD35", "IMAGE", "images", Decimal(1), "Image", "image-unit",
            "0.01"),
    _single("flux-dev", "FLUX Standard", "IMAGE", "images", Decimal(1), "Image", "image-unit",
            "0.01"),
    _single("hidream", "HiDream", "IMAGE", "images", Decimal(1), "Image", "image-unit", "0.01"),
    _single("upscaler", "Upscaler", "IMAGE", "images", Decimal(1), "Upscale", "upscale-unit",
            "0.02"),
    _single("tts-kokoro", "Kokoro TTS", "TTS", "chars", MILLION, "Output", "tts-mchars", "3.5"),
    _single("whisper-large-v3", "Whisper Large v3", "ASR", "minutes", Decimal(1), "Input",
            "asr-minute", "0.006"),
    _single("wan-2.5", "Wan 2.5 Video", "VIDEO", "seconds", Decimal(1), "Output",
            "video-second", "0.05"),
    _single("text-embedding-bge-m3", "BGE-M3 Embedding", "EMBEDDING", "tokens", MILLION, "Input",
            "embedding-input-mtoken", "0.15"),
]


async def upsert_catalog(db: Database, rows: list[SkuRow]) -> int:
    async with db.write() as conn:
        return await store.upsert_skus(conn, rows, now_ms())


async def list_catalog(db: Database) -> list[SkuRow]:
    async with db.read() as conn:
        return await store.list_skus(conn)
