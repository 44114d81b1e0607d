"""`GET /metrics`: the Prometheus text exposition of `usagebook.metrics`."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from usagebook import metrics

router = APIRouter(tags=["service"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                     "description": "Prometheus text format"}},
)
async def get_metrics() -> Response:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
