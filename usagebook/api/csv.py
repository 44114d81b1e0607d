"""The contract's CSV cell rules for the HTTP layer; they live in `usagebook.csvformat` so the
CLI export (in the ledger, which must not import `api`) writes the very same bytes."""

from usagebook.csvformat import HEADER, entries_csv, entry_row, number_cell, text_cell

__all__ = ["HEADER", "entries_csv", "entry_row", "number_cell", "text_cell"]
