"""The trivial FastAPI endpoint the hot-path benchmark compares against: served by the same
uvicorn settings as `usagebook serve` (`bench/hotpath.py` starts it), it shows what the HTTP
stack alone costs per request on this machine."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}
