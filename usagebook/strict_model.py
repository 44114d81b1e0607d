"""The one strict pydantic base: every wire model and request body refuses a field it does not
declare (an unknown field is reported as the client's mistake, never silently dropped).

`StrictModel` is the base of the API's answers and bodies; `StrictInput` adds what the edge's
models of ledger inputs (usage events, authorize bodies) need: frozen once validated, and
filled by Python field name (the ledger's) as well as by wire alias.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StrictInput(StrictModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)
