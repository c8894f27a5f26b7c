"""The request transaction helper: committed normally, always rolled back for dry-run copies."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, select

from extracted.common.dryrun import install_request_transactions, is_dry_run, request_connection

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String))


def make_app(tmp_path: Path) -> tuple[Flask, object]:
    engine = create_engine(f"sqlite:///{tmp_path / 'svc.sqlite3'}")
    metadata.create_all(engine)
    app = Flask(__name__)
    install_request_transactions(app, engine)

    @app.post("/things/")
    def create() -> tuple[dict[str, object], int]:
        conn = request_connection()
        conn.execute(things.insert().values(name="x"))
        return {"dry_run": is_dry_run()}, 201

    @app.post("/boom/")
    def boom() -> tuple[dict[str, object], int]:
        request_connection().execute(things.insert().values(name="boom"))
        raise RuntimeError("view failed after writing")

    @app.post("/fail/")
    def fail() -> tuple[dict[str, object], int]:
        request_connection().execute(things.insert().values(name="fail"))
        return {}, 503

    return app, engine


def count(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(select(func.count()).select_from(things)).scalar_one())


def test_normal_write_is_committed(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    resp = app.test_client().post("/things/")
    assert resp.status_code == 201 and resp.json == {"dry_run": False}
    assert count(engine) == 1


def test_dry_run_write_answers_the_same_and_leaves_nothing(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    resp = app.test_client().post("/things/", headers={"X-Strangler-Dry-Run": "1"})
    assert resp.status_code == 201 and resp.json == {"dry_run": True}
    assert count(engine) == 0


def test_errors_roll_back(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    assert client.post("/boom/").status_code == 500
    assert client.post("/fail/").status_code == 503
    assert count(engine) == 0


@pytest.mark.parametrize("value", ["0", "", "yes"])
def test_only_the_exact_mark_means_dry_run(tmp_path: Path, value: str) -> None:
    app, engine = make_app(tmp_path)
    app.test_client().post("/things/", headers={"X-Strangler-Dry-Run": value})
    assert count(engine) == 1
