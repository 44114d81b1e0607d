"""Usage analytics, computed from the rollups as domain objects (the API writes them out):

- `summary` (+ `summary_local` for a time zone): the totals by day, model and API key of
  /billing/usage-analytics over a `period`, by the ranking and naming rules of `report`, cached
  (`cache`) as the API renders them;
- `series` (checked by `series_query`): spend over time in local buckets, by any dimension, for
  /api/v1/usage/analytics.
"""
