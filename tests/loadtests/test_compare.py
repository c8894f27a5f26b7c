"""``python -m loadtests.compare`` end to end, against the demo monolith and the proxy."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from loadtests.compare import CANNOT_RUN, main, schedule
from strangler_proxy.testing.harness import ProxyProcess

from .conftest import REPO, Shop
from .test_stats import locust_numbers


def adapted_table(shop_url: str, **changes: object) -> str:
    """The repo's routing.yaml with every upstream pointed at the test's monolith."""
    doc = yaml.safe_load((REPO / "routing.yaml").read_text())
    doc.pop("listen", None)
    doc.pop("admin", None)
    for upstream in doc["upstreams"].values():
        upstream["instances"] = [shop_url]
    doc.update(changes)
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture(scope="module")
def proxy(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    folder = tmp_path_factory.mktemp("proxy")
    with ProxyProcess.from_yaml(adapted_table(shop.url), folder) as proc:
        proc.wait_http(proc.url + "/healthz", status=200)
        yield proc


def compare(*args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "loadtests.compare", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_schedule() -> None:
    assert schedule(1) == [("A", 1), ("B", 1), ("A", 2)]
    assert schedule(2) == [("A", 1), ("B", 1), ("A", 2), ("B", 2)]


def test_usage_errors_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--baseline", "http://127.0.0.1:1"]) == CANNOT_RUN
    assert "--baseline and --candidate go together" in capsys.readouterr().err
    assert main(["--proxy-admin", "http://127.0.0.1:1", "--table-a", "x"]) == CANNOT_RUN
    assert "needs --config, --table-b" in capsys.readouterr().err
    assert main(["--baseline", "a", "--candidate", "b", "--max-p95-ratio", "0.5"]) == CANNOT_RUN
    assert "gates: p95 ratio" in capsys.readouterr().err
    down = ["--baseline", "http://127.0.0.1:9", "--candidate", "http://127.0.0.1:9"]
    assert main([*down, "--out", str(tmp_path)]) == CANNOT_RUN
    assert "does not answer" in capsys.readouterr().err


def test_monolith_against_proxy(shop: Shop, proxy: ProxyProcess, tmp_path: Path) -> None:
    out = tmp_path / "report"
    code, output = compare(
        "--baseline", shop.url, "--candidate", proxy.url, "--users", "6", "--duration", "5",
        "--rounds", "1", "--out", str(out),
    )  # fmt: skip
    assert code in (0, 1, 2), output
    for name in ("report.md", "report.json", "report.html"):
        assert (out / name).stat().st_size > 0
    assert "[3/3] A2 baseline" in output and "requests" in output  # progress while it ran
    report = json.loads((out / "report.json").read_text())
    assert report["exit_code"] == code
    assert report["runs"] == {"baseline": ["A1", "A2"], "candidate": ["B1"]}
    assert report["total"]["baseline"]["requests"] > 50
    assert report["total"]["candidate"]["failures"] == 0, output
    # the report's per-run numbers are locust's own for the same run
    for side, labels in (("baseline", ["A1", "A2"]), ("candidate", ["B1"])):
        theirs = {label: locust_numbers(out / "runs" / f"{label}.json") for label in labels}
        for row in report["endpoints"]:
            for label, figures in zip(labels, row[side]["runs"], strict=True):
                locust = theirs[label].get(row["endpoint"])
                assert figures["requests"] == (locust["requests"] if locust else 0)
                assert figures["p95"] == (locust["p95"] if locust else 0)
    assert "<svg" in (out / "report.html").read_text()


def test_one_proxy_two_tables(shop: Shop, proxy: ProxyProcess, tmp_path: Path) -> None:
    assert proxy.config is not None
    original = proxy.config.read_bytes()
    legacy_only = tmp_path / "legacy.yaml"
    legacy_only.write_text(adapted_table(shop.url, routes=[]))
    current = tmp_path / "current.yaml"
    current.write_bytes(original)
    code, output = compare(
        "--proxy-admin", proxy.admin_url, "--config", str(proxy.config),
        "--table-a", str(legacy_only), "--table-b", str(current),
        "--users", "4", "--duration", "4", "--rounds", "1", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code in (0, 1, 2), output
    assert output.count("proxy table") >= 3 and "restored" in output
    assert proxy.config.read_bytes() == original
    table = httpx.get(proxy.admin_url + "/table", timeout=5).json()
    assert [r["name"] for r in table["routes"]][:1] == ["product-list"]  # the original again
    assert (tmp_path / "out" / "report.html").exists()


def test_distributed_mode_with_locust_processes(shop: Shop, tmp_path: Path) -> None:
    """``--processes 2``: locust forks two workers per run; the numbers still come from
    locust's own (aggregated) stats."""
    out = tmp_path / "report"
    code, output = compare(
        "--baseline", shop.url, "--candidate", shop.url, "--users", "4", "--duration", "4",
        "--rounds", "1", "--processes", "2", "--out", str(out),
    )  # fmt: skip
    assert code in (0, 1, 2), output
    report = json.loads((out / "report.json").read_text())
    assert report["total"]["baseline"]["requests"] > 20, output
    assert report["total"]["candidate"]["failures"] == 0, output
    for label in ("A1", "B1", "A2"):  # each run: a master and two connected workers
        log = (out / "runs" / f"{label}.log").read_text()
        assert "2 workers connected" in log, log[-2000:]
