"""Integrations of usagebook's client with other libraries; each needs its library installed."""
