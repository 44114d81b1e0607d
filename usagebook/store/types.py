"""Column types that keep money exact on both backends."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Dialect, Integer, Numeric, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

from usagebook.money import from_nanos, to_nanos


class Money(TypeDecorator[Decimal]):
    """An exact decimal with nine places: NUMERIC(38, 9) on PostgreSQL, whole nano-units
    (a 64-bit integer) on SQLite, whose own NUMERIC would round through a float.

    SQL sums of a Money column stay exact on both (integer addition on SQLite), and
    `func.sum(column)` keeps this type, so results come back as Decimal either way.
    """

    impl = Numeric(38, 9)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(38, 9, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return to_nanos(Decimal(value))
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_nanos(int(value))
        return value if isinstance(value, Decimal) else Decimal(str(value))


# SQLite only turns INTEGER PRIMARY KEY (not BIGINT) into the rowid alias that autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class ExactSum(TypeDecorator[Decimal]):
    """A running total of Money (a balance's granted or consumed figure): NUMERIC(38, 9) on
    PostgreSQL, exact decimal text on SQLite, where a total of many 64-bit nano-unit amounts
    could overflow. SQLite never adds it in SQL: its writer reads the total, adds in Python and
    writes it back, inside its exclusive write transaction (see store.balances)."""

    impl = Numeric(38, 9)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(38, 9, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return format(Decimal(value), "f") if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))
