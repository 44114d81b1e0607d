"""The client tests' real ledger server, for the integrations' tests too."""

from tests.support.client import ledger

__all__ = ["ledger"]
