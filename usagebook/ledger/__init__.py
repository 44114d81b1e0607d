"""The domain: recording, pricing, usage listing, balances, analytics, keys. Knows no HTTP."""
