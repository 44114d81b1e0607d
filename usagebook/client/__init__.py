"""A typed client for usagebook servers, sync and async (httpx), for integrators.

- `UsagebookClient` / `AsyncUsagebookClient`: record events (retried with the same request
  ids, so never charged twice), authorize and settle holds, read usage pages and cursor walks
  as iterators, balances and analytics.
- `Recorder` / `AsyncRecorder`: record from a request handler without waiting: a bounded
  queue (back-pressure when full), batches by size and time, retries, a flush on close (and at
  exit for `Recorder`).

Errors are drawn in `usagebook.client.errors`. The client imports nothing of the server.
"""

from usagebook.client._core import RetryPolicy
from usagebook.client.aio import AsyncUsagebookClient
from usagebook.client.async_recorder import AsyncRecorder
from usagebook.client.errors import (
    ApiError,
    ClientError,
    InvalidRequest,
    QueueFull,
    RateLimited,
    RecorderClosed,
    Refused,
    ServerError,
    Unauthorized,
    Unreachable,
)
from usagebook.client.models import Entry, Estimate, Event, Hold, RecordResult, UsagePage
from usagebook.client.recorder import Recorder, RecorderStats
from usagebook.client.sync import UsagebookClient

__all__ = [
    "ApiError", "AsyncRecorder", "AsyncUsagebookClient", "ClientError", "Entry", "Estimate",
    "Event", "Hold", "InvalidRequest", "QueueFull", "RateLimited", "RecordResult", "Recorder",
    "RecorderClosed", "RecorderStats", "Refused", "RetryPolicy", "ServerError", "Unauthorized",
    "Unreachable", "UsagePage", "UsagebookClient",
]
