"""Alerts inside PostgreSQL's write statement (`store.write_postgresql`): CTEs that read the batch's
`stored` rows and the `balances` it moved, and write crossings, events and deliveries.

Every sub-statement of the write sees the snapshot from before it, so a period's usage is the
rollups' figure from that snapshot plus the batch's own entries in the period (exact: the
account's lock keeps every other writer out). Only accounts and keys with something to watch pay
more than a probe: a balance threshold (`alert_balance_thresholds`), a key limit
(`api_keys.consumption_limit_*`) or an account's monthly limit (`accounts.monthly_limit_*`).

`candidates` are the thresholds the batch leaves crossed; `crossed` keeps those whose crossing
row is new (the unique key of alert_crossings decides, whatever the concurrency), and each
becomes one event in the outbox with a pending delivery to each enabled endpoint subscribed to
its type. `store.alerts` does the same in Python for SQLite.
"""

from __future__ import annotations

NOW_MS = "(extract(epoch FROM now()) * 1000)::bigint"
_TODAY = f"({NOW_MS} - {NOW_MS} % 86400000)"
_MONTH = "(extract(epoch FROM date_trunc('month', now() AT TIME ZONE 'UTC')) * 1000)::bigint"
# The limit classes: USD and BUNDLED_CREDITS count against a USD limit, DIEM against DIEM's.
_CLASS = "CASE WHEN currency = 'DIEM' THEN 'DIEM' ELSE 'USD' END"
_SAME_CLASS = "(r.currency = 'DIEM') = (b.currency = 'DIEM')"
_KEY_LIMIT = ("CASE WHEN b.currency = 'DIEM' THEN k.consumption_limit_diem "
              "ELSE k.consumption_limit_usd END")
_ACCOUNT_LIMIT = ("CASE WHEN b.currency = 'DIEM' THEN a.monthly_limit_diem "
                  "ELSE a.monthly_limit_usd END")
_KEY_START = f"CASE k.limit_period WHEN 'EPOCH' THEN {_TODAY} WHEN 'MONTH' THEN {_MONTH} ELSE 0 END"
_KEY_BATCH = ("CASE k.limit_period WHEN 'EPOCH' THEN b.today WHEN 'MONTH' THEN b.month "
              "ELSE b.spent END")

ALERT_CTES = f"""spent AS (
    SELECT account_id, api_key_id, {_CLASS} AS currency,
        coalesce(-sum(amount) FILTER (WHERE ts_ms >= {_TODAY}), 0) AS today,
        coalesce(-sum(amount) FILTER (WHERE ts_ms >= {_MONTH}), 0) AS month,
        -sum(amount) AS spent
    FROM stored GROUP BY 1, 2, 3
), limit_usage AS (
    SELECT b.account_id, b.api_key_id, 'key.limit'::varchar AS kind, b.currency,
        k.limit_period::varchar AS limit_period, {_KEY_START} AS period_start_ms,
        {_KEY_LIMIT} AS limit_amount,
        {_KEY_BATCH} + coalesce((SELECT -sum(r.amount) FROM rollup_day_key r
            WHERE r.account_id = b.account_id AND r.api_key_id = b.api_key_id
            AND r.day_ms >= {_KEY_START} AND {_SAME_CLASS}), 0) AS usage
    FROM spent b JOIN api_keys k ON k.id = b.api_key_id AND k.account_id = b.account_id
    WHERE {_KEY_LIMIT} > 0
    UNION ALL
    SELECT b.account_id, '', 'account.limit', b.currency, 'MONTH', {_MONTH},
        {_ACCOUNT_LIMIT}, b.month + coalesce((SELECT -sum(r.amount) FROM rollup_day_currency r
            WHERE r.account_id = b.account_id AND r.day_ms >= {_MONTH} AND {_SAME_CLASS}), 0)
    FROM (SELECT account_id, currency, sum(month) AS month FROM spent GROUP BY 1, 2) b
    JOIN accounts a ON a.id = b.account_id
    WHERE {_ACCOUNT_LIMIT} > 0
), limit_crossed AS (
    SELECT u.*, t.percent::int AS percent FROM limit_usage u
    LEFT JOIN alert_settings s ON s.account_id = u.account_id
    CROSS JOIN LATERAL unnest(string_to_array(coalesce(s.key_thresholds, '50,80,100'), ','))
        AS t(percent)
    WHERE u.usage * 100 >= u.limit_amount * t.percent::int
), candidates AS (
    SELECT b.account_id, ''::varchar AS api_key_id, 'balance.low'::varchar AS kind, b.currency,
        a.threshold, 0::bigint AS period_start_ms, 'account.balance.low'::varchar AS type,
        b.balance AS amount, NULL::numeric AS limit_amount, NULL::varchar AS limit_period
    FROM balances b JOIN alert_balance_thresholds a USING (account_id, currency)
    WHERE b.balance < a.threshold
    UNION ALL
    SELECT account_id, coalesce(api_key_id, ''), kind, currency, percent, period_start_ms,
        CASE WHEN kind = 'key.limit' AND percent = 100 THEN 'key.limit.reached'
             WHEN kind = 'key.limit' THEN 'key.limit.threshold_crossed'
             WHEN percent = 100 THEN 'account.limit.reached'
             ELSE 'account.limit.threshold_crossed' END,
        usage, limit_amount, limit_period
    FROM limit_crossed
), crossed AS (
    INSERT INTO alert_crossings (account_id, api_key_id, kind, currency, threshold,
        period_start_ms, created_ms)
    SELECT account_id, api_key_id, kind, currency, threshold, period_start_ms, {NOW_MS}
    FROM candidates ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT DO NOTHING
    RETURNING account_id, api_key_id, kind, currency, threshold, period_start_ms
), events AS (
    INSERT INTO alert_events (id, account_id, type, api_key_id, currency, threshold, amount,
        limit_amount, limit_period, period_start_ms, created_ms)
    SELECT 'evt_' || replace(gen_random_uuid()::text, '-', ''), c.account_id, c.type,
        nullif(c.api_key_id, ''), c.currency, c.threshold, c.amount, c.limit_amount,
        c.limit_period, nullif(c.period_start_ms, 0), {NOW_MS}
    FROM crossed JOIN candidates c
        USING (account_id, api_key_id, kind, currency, threshold, period_start_ms)
    RETURNING id, account_id, type, created_ms
), deliveries AS (
    INSERT INTO webhook_deliveries (account_id, endpoint_id, event_id, status, attempts,
        next_attempt_ms, created_ms)
    SELECT e.account_id, s.endpoint_id, e.id, 'pending', 0, e.created_ms, e.created_ms
    FROM events e
    JOIN webhook_subscriptions s ON s.account_id = e.account_id AND s.event_type = e.type
    JOIN webhook_endpoints w ON w.id = s.endpoint_id AND w.account_id = s.account_id
        AND w.enabled
)"""
