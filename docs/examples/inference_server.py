"""An OpenAI-style inference server that records each completed call into usagebook."""

import os
import uuid
from contextlib import asynccontextmanager
from decimal import Decimal

from fastapi import FastAPI, Header, HTTPException
from usagebook.client import AsyncRecorder, AsyncUsagebookClient, Event

LEDGER_URL = os.environ.get("USAGEBOOK_URL", "http://127.0.0.1:8000")
OPERATOR_TOKEN = os.environ["USAGEBOOK_OPERATOR_TOKEN"]
# Your customers' keys and their usagebook key ids (here the demo's INFERENCE key).
CUSTOMERS = {os.environ["DEMO_INFERENCE_KEY"]: os.environ["DEMO_INFERENCE_KEY_ID"]}


@asynccontextmanager
async def lifespan(app: FastAPI):
    client = AsyncUsagebookClient(LEDGER_URL, operator_token=OPERATOR_TOKEN)
    app.state.usage = AsyncRecorder(client, batch_size=500, flush_seconds=1.0)
    yield
    await app.state.usage.aclose()  # sends what is still queued
    await client.aclose()


app = FastAPI(lifespan=lifespan)


def run_the_model(body: dict) -> dict:
    """Stands in for your inference: a fixed reply, with the usage a real model reports."""
    prompt_tokens = sum(len(message["content"].split()) for message in body["messages"])
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Hello!"}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 2,
                      "total_tokens": prompt_tokens + 2}}


@app.post("/v1/chat/completions")
async def chat(body: dict, authorization: str = Header("")) -> dict:
    key_id = CUSTOMERS.get(authorization.removeprefix("Bearer "))
    if key_id is None:
        raise HTTPException(401, "Unknown API key")
    answer = run_the_model(body)
    usage = answer["usage"]
    for kind, tokens in (("input", usage["prompt_tokens"]),
                         ("output", usage["completion_tokens"])):
        await app.state.usage.add(Event(
            request_id=answer["id"], sku=f"{body['model']}-llm-{kind}-mtoken",
            units=Decimal(tokens) / 1_000_000,  # -mtoken SKUs count millions of tokens
            api_key_id=key_id, prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"]))
    return answer
