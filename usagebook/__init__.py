"""usagebook: a self-hostable usage-billing ledger for AI inference APIs."""

__version__ = "0.1.0"
