"""The shapes a service registers so the data tools can copy and compare its tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Engine, RowMapping

__all__ = ["OUTBOX_VERSIONS_SQL", "ServiceSpec", "TableSpec"]

#: the newest version per aggregate id in the monolith's outbox (deleted rows included)
OUTBOX_VERSIONS_SQL = (
    "SELECT aggregate_id, MAX(version) FROM outbox_outboxevent"
    " WHERE aggregate_type = :type AND aggregate_id IN :ids GROUP BY aggregate_id"
)


@dataclass(frozen=True)
class TableSpec:
    """One table the service copies from the monolith.

    ``select`` is a ``SELECT ... FROM <source_table> <alias>`` of the source columns plus a
    ``version`` column (the newest outbox version of the row, NULL when it never had an event);
    the tools add ``WHERE <alias>.id > :after ORDER BY <alias>.id LIMIT :limit``.
    ``convert`` turns a source row into a target row (the owned fields, compared by verify).
    """

    name: str
    source_table: str
    select: str
    target: Table
    convert: Callable[[RowMapping], dict[str, Any]]
    aggregate_type: str | None  # rows versioned by events; None: no events for this table
    delete_last: bool = False  # delete stale rows only after every table was copied

    @property
    def alias(self) -> str:
        """``... FROM catalog_product p`` → ``p``."""
        return self.select.rsplit(" ", 1)[-1]

    def page_sql(self) -> str:
        a = self.alias
        return f"{self.select} WHERE {a}.id > :after ORDER BY {a}.id LIMIT :limit"

    def ids_sql(self) -> str:
        return f"SELECT id FROM {self.source_table} WHERE id IN :ids"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    database_env: str  # the service's own database URL variable
    default_database_url: str
    consumer_queue: str  # the consumer marks itself ready in sync_checkpoints under this
    aggregate_types: tuple[str, ...]
    ensure_schema: Callable[[Engine], None]
    tables: tuple[TableSpec, ...]
