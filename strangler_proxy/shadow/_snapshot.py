"""Reading the store back: everything the report needs, as typed rows, in one snapshot.

snapshot = read_snapshot(db, route="product-detail", now=time.time(), ttl=7 * 86400)
snapshot.routes[0].compared, snapshot.fields[0].field  # → 1200, "$.price"
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ._sql import Driver

__all__ = ["ExampleRow", "FieldRow", "RouteRow", "Snapshot", "read_noise_counts", "read_snapshot"]


@dataclass(frozen=True, slots=True)
class RouteRow:
    route: str
    compared: int
    matched: int
    mismatched: int
    noise_only: int
    likely_race: int
    errors: int
    primary_errors: int
    shadow_errors: int
    noise_samples: int
    first_seen: float | None
    last_seen: float | None


@dataclass(frozen=True, slots=True)
class FieldRow:
    """A differing field (``kind`` of its first difference) or a noise field (kind ``noise``)."""

    route: str
    field: str
    kind: str
    count: int
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class ExampleRow:
    route: str
    field: str
    stored_at: float
    request_id: str
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class Snapshot:
    routes: tuple[RouteRow, ...] = ()
    fields: tuple[FieldRow, ...] = ()
    noise: tuple[FieldRow, ...] = ()
    signatures: tuple[tuple[str, tuple[str, ...], int], ...] = ()  # route, fields, count
    latency: tuple[tuple[str, str, int, int], ...] = ()  # route, side, bucket, count
    examples: tuple[ExampleRow, ...] = ()  # the newest live example per (route, field)
    dropped: tuple[tuple[str, int], ...] = ()  # route, copies dropped (never compared)

    def dropped_for(self, route: str) -> int:
        return sum(n for r, n in self.dropped if r == route)


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float | str) else 0


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float | str) else 0.0


def _opt_float(value: object) -> float | None:
    return None if value is None else _float(value)


def read_snapshot(db: Driver, route: str | None, now: float, ttl: float) -> Snapshot:
    where, params = ("WHERE route = ?", (route,)) if route is not None else ("", ())
    routes = tuple(
        RouteRow(
            str(r[0]),
            _int(r[1]),
            _int(r[2]),
            _int(r[3]),
            _int(r[4]),
            _int(r[5]),
            _int(r[6]),
            _int(r[7]),
            _int(r[8]),
            _int(r[9]),
            _opt_float(r[10]),
            _opt_float(r[11]),
        )
        for r in db.execute(
            "SELECT route, compared, matched, mismatched, noise_only, likely_race, errors, "
            f"primary_errors, shadow_errors, noise_samples, first_seen, last_seen "
            f"FROM shadow_routes {where} ORDER BY route",
            params,
        )
    )

    def fields(table: str) -> tuple[FieldRow, ...]:
        kind = "kind" if table == "shadow_fields" else "'noise'"
        rows = db.execute(
            f"SELECT route, field, {kind}, count, first_seen, last_seen FROM {table} {where} "
            "ORDER BY route, count DESC, field",
            params,
        )
        return tuple(
            FieldRow(str(r[0]), str(r[1]), str(r[2]), _int(r[3]), _float(r[4]), _float(r[5]))
            for r in rows
        )

    signatures = tuple(
        (str(r[0]), tuple(str(r[1]).split("\n")), _int(r[2]))
        for r in db.execute(f"SELECT route, fields, count FROM shadow_signatures {where}", params)
    )
    latency = tuple(
        (str(r[0]), str(r[1]), _int(r[2]), _int(r[3]))
        for r in db.execute(
            f"SELECT route, side, bucket, count FROM shadow_latency {where}", params
        )
    )
    live = "stored_at >= ?" + (" AND route = ?" if route is not None else "")
    examples: dict[tuple[str, str], ExampleRow] = {}
    for r in db.execute(
        "SELECT route, field, stored_at, request_id, payload FROM shadow_examples "
        f"WHERE {live} ORDER BY stored_at",
        (now - ttl, *params),
    ):
        payload = json.loads(str(r[4]))
        row = ExampleRow(str(r[0]), str(r[1]), _float(r[2]), str(r[3]), payload)
        examples[(row.route, row.field)] = row  # ascending order: the newest wins
    dropped = tuple(
        (str(r[0]), _int(r[1]))
        for r in db.execute(f"SELECT route, dropped FROM shadow_drops {where}", params)
    )
    return Snapshot(
        routes,
        fields("shadow_fields"),
        fields("shadow_noise"),
        signatures,
        latency,
        tuple(examples.values()),
        dropped,
    )


def read_noise_counts(db: Driver) -> dict[str, dict[str, int]]:
    """Per route, per field: in how many primary-vs-primary comparisons it differed."""
    counts: dict[str, dict[str, int]] = {}
    for r in db.execute("SELECT route, field, count FROM shadow_noise"):
        counts.setdefault(str(r[0]), {})[str(r[1])] = _int(r[2])
    return counts
