"""Storage: tables, engine, queries and migrations. All SQL in usagebook lives in this package."""
