"""The test utility package: servers started on loopback, factories of ledgers, the harness that
reaches each backend, and the helpers more than one suite (or bench/) shares.

Test folders hold tests and their conftest.py fixtures (contract/ also Venice's published
schemas); anything a test imports besides the package under test comes from here. bench/
imports it as `tests.support` when run as a module from the repository root
(`.venv/bin/python -m bench.<name>`).
"""
