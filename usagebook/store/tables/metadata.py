"""The schema's one MetaData, with the constraint naming convention every migration follows.

Times are integer epoch milliseconds (UTC): one exact, sortable representation on both
backends, and the unit the contract's timestamps are written in. Money columns use `Money`.
"""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
