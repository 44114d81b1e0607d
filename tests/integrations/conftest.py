"""The client tests' real ledger server, for the integrations' tests too."""

from tests.client.conftest import ledger

__all__ = ["ledger"]
