"""A metering gateway in front of any OpenAI-compatible server (vLLM, llama.cpp, Ollama, TGI).

It talks to the ledger only over HTTP (authorize, then record), so it imports nothing from
`usagebook.store` or `usagebook.ledger`. Modules, in the order a request meets them:

    app.py            the ASGI app and its routes; create_gateway_app(config)
    admission.py      authorize an estimate; the answers relayed to the customer
    proxy.py          forward upstream, plain or streamed; meter; queue the usage
    sse.py            pass a stream on byte for byte, reading its events on the side
    usage.py          estimates, the upstream's usage, the gateway's fallback count
    records.py        a metered request as queued, and its ledger events (SKUs)
    queue.py          the durable SQLite queue (fsync'd before an answer completes)
    releases.py       release the hold of a request that records nothing
    sender.py         sends queued usage to the ledger until it acknowledges it
    ledger_client.py  the HTTP calls to the ledger
"""

from usagebook.gateway.app import Gateway, create_gateway_app
from usagebook.gateway.config import GatewayConfig

__all__ = ["Gateway", "GatewayConfig", "create_gateway_app"]
