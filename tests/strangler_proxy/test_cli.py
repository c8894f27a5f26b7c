"""The ``strangler`` command: validate, routes, the pass-through proxy, exit codes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from strangler_proxy.testing import Process, free_port
from strangler_proxy.testing.harness import FakeUpstreamProcess, ProxyProcess, table_yaml

REPO = Path(__file__).resolve().parents[2]


def strangler(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strangler_proxy", *args], capture_output=True, text=True, cwd=cwd
    )


def test_validate_valid_file() -> None:
    result = strangler("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("routing.yaml: valid: 5 routes, 2 upstreams, default legacy")


def test_validate_names_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "routing.yaml"
    broken.write_text(
        "version: 1\n"
        "upstreams:\n"
        "  legacy: http://127.0.0.1:8000\n"
        "  catalog: http://127.0.0.1:8101\n"
        "default: legacy\n"
        "routes:\n"
        "  - name: detail\n"
        "    match: {path: /api/products/}\n"
        "    mode: canary\n"
        "    to: catalog\n"
        "    weight: 120\n"
        "  - name: other\n"
        "    match: {prefix: /api/other/}\n"
        "    mode: extracted\n"
        "    to: nowhere\n"
    )
    result = strangler("validate", "routing.yaml", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "routing.yaml:11: routes[0].weight: must be an integer 0..100, got 120"
    assert lines[1].startswith("routing.yaml:15: routes[1].to: unknown upstream 'nowhere'")
    assert len(lines) == 2


def test_validate_missing_file(tmp_path: Path) -> None:
    result = strangler("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "cannot read" in result.stdout


def test_usage_error_exit_code() -> None:
    result = strangler("proxy", "--listen", "not-an-address")
    assert result.returncode == 2
    assert "HOST:PORT" in result.stderr or "host:port" in result.stderr


def test_routes_lists_the_table() -> None:
    result = strangler("routes")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ROUTE", "MATCH", "MODE", "WEIGHT", "UPSTREAM", "FALLBACK"]
    detail = next(line for line in lines if line.startswith("product-detail "))
    assert "canary" in detail and "25%" in detail and "catalog / legacy" in detail
    rows = json.loads(strangler("routes", "--json").stdout)
    assert rows[-1]["route"] == "(default)" and rows[-1]["upstream"] == "legacy"
    assert {r["route"]: r["mode"] for r in rows}["product-list"] == "extracted"


def test_passthrough_mode(legacy: FakeUpstreamProcess) -> None:
    with ProxyProcess.passthrough(legacy.url) as proxy:
        resp = httpx.get(proxy.url + "/anything/at/all?x=1")
        assert resp.status_code == 200
        assert resp.json()["target"] == "/anything/at/all?x=1"
        assert resp.headers["x-strangler-route"] == "(default)"
        table = httpx.get(proxy.admin_url + "/table").json()
        assert table["routes"] == [] and table["default"] == "legacy"
        # the admin API is not on the public port: /table there is the monolith's
        assert httpx.get(proxy.url + "/table").json()["name"] == "legacy"
        assert httpx.get(proxy.admin_url + "/reload").status_code == 404


def test_passthrough_needs_listen(legacy: FakeUpstreamProcess) -> None:
    result = strangler("proxy", "--legacy", legacy.url)
    assert result.returncode == 2
    assert "--listen" in result.stderr


def test_passthrough_rejects_bad_url() -> None:
    result = strangler("proxy", "--legacy", "ftp://x", "--listen", "127.0.0.1:1")
    assert result.returncode == 2
    assert "http://" in result.stderr


def test_port_in_use_is_one_clear_line_and_nothing_left_open(legacy: FakeUpstreamProcess) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = strangler(
            "proxy", "--legacy", legacy.url, "--listen", f"127.0.0.1:{port}",
            "--admin-listen", f"127.0.0.1:{free_port()}",
        )  # fmt: skip
    assert result.returncode == 1
    assert "address already in use" in result.stderr
    assert "Unclosed" not in result.stderr  # what started before the bind failed was closed


def test_proxy_refuses_invalid_table(tmp_path: Path) -> None:
    config = tmp_path / "routing.yaml"
    config.write_text("version: 1\n")
    result = strangler("proxy", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}:" in result.stderr


def test_listen_addresses_come_from_the_table(tmp_path: Path, legacy: FakeUpstreamProcess) -> None:
    port, admin_port = free_port(), free_port()
    config = tmp_path / "routing.yaml"
    config.write_text(
        table_yaml(
            {"legacy": legacy.url},
            listen=f"127.0.0.1:{port}",
            admin={"listen": f"127.0.0.1:{admin_port}"},
        )
    )
    argv = [sys.executable, "-m", "strangler_proxy", "proxy", "--config", str(config)]
    with Process(argv, name="proxy-from-table") as proc:
        proc.wait_http(f"http://127.0.0.1:{admin_port}/healthz", status=200)
        assert httpx.get(f"http://127.0.0.1:{port}/x").json()["name"] == "legacy"


def test_flags_override_the_table_listen(tmp_path: Path, legacy: FakeUpstreamProcess) -> None:
    text = table_yaml({"legacy": legacy.url}, listen="127.0.0.1:1", admin={"listen": "127.0.0.1:2"})
    with ProxyProcess.from_yaml(text, tmp_path) as proxy:
        assert httpx.get(proxy.url + "/x").status_code == 200
        info = httpx.get(proxy.admin_url + "/table").json()
        assert info["listen"] == "127.0.0.1:1"  # what the file says
        assert info["listening"] == {
            "listen": f"127.0.0.1:{proxy.port}",
            "admin_listen": f"127.0.0.1:{proxy.admin_port}",
        }


def test_readme_validate_example_is_true(tmp_path: Path) -> None:
    """The README shows what `strangler validate` prints for `weight: 120` in routing.yaml."""
    readme = (REPO / "README.md").read_text()
    shown = next(line for line in readme.splitlines() if line.startswith("routing.yaml:"))
    text = (REPO / "routing.yaml").read_text()
    assert text.count("weight: 25") == 1
    (tmp_path / "routing.yaml").write_text(text.replace("weight: 25", "weight: 120"))
    result = strangler("validate", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [shown]


def test_loadtest_compare_is_wired_and_refuses_a_dead_target(tmp_path: Path) -> None:
    port = free_port()
    result = strangler(
        "loadtest", "compare", "--baseline", f"http://127.0.0.1:{port}",
        "--candidate", f"http://127.0.0.1:{port}", "--duration", "2", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert "does not answer" in result.stdout + result.stderr


def test_shadow_report_without_data_is_not_enough_data(tmp_path: Path) -> None:
    result = strangler("shadow", "report", "--store", f"sqlite:///{tmp_path / 'none.sqlite3'}")
    assert result.returncode == 2
    assert "not enough data" in result.stdout


def test_workers_share_the_port_and_stop_together(
    tmp_path: Path, legacy: FakeUpstreamProcess
) -> None:
    text = table_yaml({"legacy": legacy.url})
    with ProxyProcess.from_yaml(text, tmp_path, "--workers", "2") as proxy:
        assert proxy.popen is not None
        children = subprocess.run(
            ["pgrep", "-P", str(proxy.popen.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 2
        with httpx.Client(base_url=proxy.url) as client:
            assert all(client.get(f"/x/{i}").status_code == 200 for i in range(20))
        assert httpx.get(proxy.admin_url + "/table").json()["generation"] == 1
        proxy.popen.send_signal(15)
        assert proxy.popen.wait(timeout=15) == 0
    for pid in children:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )


def test_data_verify_is_wired_and_says_when_it_cannot_read(tmp_path: Path) -> None:
    result = strangler(
        "data", "verify", "catalog", "--source-url", "postgresql://postgres@127.0.0.1:1/none",
        "--target-url", f"sqlite:///{tmp_path / 'svc.sqlite3'}",
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr


def test_shadow_reset_forgets_a_routes_evidence(tmp_path: Path) -> None:
    from strangler_proxy.shadow import open_store
    from strangler_proxy.shadow._fakes import json_side, make_result

    url = f"sqlite:///{tmp_path / 'shadow.sqlite3'}"
    store = open_store(url, tmp_path / "unused.sqlite3")
    for n in range(3):
        store.record(make_result(json_side({"n": 1}), json_side({"n": 2}), request_id=f"r{n}"))
    store.flush()
    store.close()
    result = strangler("shadow", "reset", "products", "--store", url)
    assert result.returncode == 0, result.stderr
    assert "products: forgot 3 comparisons" in result.stdout and "--noise" in result.stdout
    after = strangler("shadow", "report", "products", "--store", url, "--json")
    assert after.returncode == 2 and json.loads(after.stdout)["routes"] == []

    unusable = strangler("shadow", "reset", "products", "--store", "mysql://nowhere/x")
    assert unusable.returncode == 2 and "cannot write the store" in unusable.stderr
    again = strangler("shadow", "reset", "products", "--store", url)  # nothing left
    assert again.returncode == 2 and "nothing is stored for route 'products'" in again.stderr
    missing = tmp_path / "typo.sqlite3"
    mistyped = strangler("shadow", "reset", "products", "--store", f"sqlite:///{missing}")
    assert mistyped.returncode == 2 and "no store at" in mistyped.stderr
    assert not missing.exists()  # nothing created
