"""The flow file format, without mitmproxy: tnetstrings, the state mitmproxy 11.0.2 writes (two
flows its ``FlowWriter`` wrote are pinned below, byte for byte), what the reader tolerates (the
formats mitmproxy 9 to 12 write, older spellings), corrupt files (:class:`FlowFileError`, exit
2), the route filter and exit codes in process, and that nothing of the kit imports or depends
on mitmproxy. ``test_flows_mitmproxy.py`` checks the same against the real mitmproxy."""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from strangler_proxy.cli import main
from strangler_proxy.config import load_table
from strangler_proxy.shadow import FlowFileError, Verdict, open_store, replay
from strangler_proxy.shadow._fakes import T0, json_side, make_result
from strangler_proxy.shadow._tnetstring import TNetstringError, dumps, load, loads
from strangler_proxy.shadow.flows import (
    FLOW_FORMAT_VERSION,
    FlowRequest,
    FlowResponse,
    HttpFlow,
    _to_request,
    read_http_flows,
    write_flows,
)
from strangler_proxy.testing import free_port
from strangler_proxy.testing.harness import table_yaml

REPO = Path(__file__).resolve().parents[3]

# Two flows written by mitmproxy 11.0.2's FlowWriter (as ``mitmdump -w`` writes them): an
# exchange and a request without response (error "no response"), both commented, the second
# marked, with metadata; every id and timestamp fixed. Made with http.Request/Response,
# connection.Client(peername=("127.0.0.1", 0), sockname=("127.0.0.1", 0)) and
# connection.Server(address=("shop.example", 8080)), ids 00000000-0000-4000-8000-0000000000NN.
GOLDEN = (
    b"1699:9:websocket;0:~8:response;252:6:reason;2:OK,11:status_code;3:200#13:timestamp_e"
    b'nd;12:1767268800.5^15:timestamp_start;13:1767268800.25^8:trailers;0:~7:content;12:{"'
    b'name": "x",7:headers;67:36:12:Content-Type,16:application/json,]23:14:content-length'
    b",2:12,]]12:http_version;8:HTTP/1.1,}7:request;316:4:path;19:/api/items/1?page=2,9:au"
    b"thority;0:,6:scheme;4:http,6:method;3:GET,4:port;4:8080#4:host;12:shop.example;13:ti"
    b"mestamp_end;13:1767268800.25^15:timestamp_start;13:1767268800.25^8:trailers;0:~7:con"
    b"tent;0:,7:headers;65:28:4:Host,17:shop.example:8080,]29:6:Accept,16:application/json"
    b",]]12:http_version;8:HTTP/1.1,}6:backup;0:~17:timestamp_created;13:1767268800.25^7:c"
    b"omment;9:a comment;8:metadata;61:9:strangler;45:1:n;20:1:1#3:2.5^0:~4:true!]4:side;7"
    b":primary;}}6:marked;0:;9:is_replay;0:~11:intercepted;5:false!11:server_conn;374:3:vi"
    b"a;0:~19:timestamp_tcp_setup;0:~7:address;23:12:shop.example;4:8080#]19:timestamp_tls"
    b"_setup;0:~13:timestamp_end;0:~15:timestamp_start;0:~3:sni;0:~11:tls_version;0:~11:ci"
    b"pher_list;0:]6:cipher;0:~11:alpn_offers;0:]4:alpn;0:~16:certificate_list;0:]3:tls;5:"
    b"false!5:error;0:~18:transport_protocol;3:tcp;2:id;36:00000000-0000-4000-8000-0000000"
    b"00011;8:sockname;0:~8:peername;0:~}11:client_conn;388:10:proxy_mode;7:regular;8:mitm"
    b"cert;0:~19:timestamp_tls_setup;0:~13:timestamp_end;0:~15:timestamp_start;13:17672688"
    b"00.25^3:sni;0:~11:tls_version;0:~11:cipher_list;0:]6:cipher;0:~11:alpn_offers;0:]4:a"
    b"lpn;0:~16:certificate_list;0:]3:tls;5:false!5:error;0:~18:transport_protocol;3:tcp;2"
    b":id;36:00000000-0000-4000-8000-000000000001;8:sockname;16:9:127.0.0.1;1:0#]8:peernam"
    b"e;16:9:127.0.0.1;1:0#]}5:error;0:~2:id;36:00000000-0000-4000-8000-000000000021;4:typ"
    b"e;4:http;7:version;2:21#}1509:9:websocket;0:~8:response;0:~7:request;316:4:path;19:/"
    b"api/items/1?page=2,9:authority;0:,6:scheme;4:http,6:method;3:GET,4:port;4:8080#4:hos"
    b"t;12:shop.example;13:timestamp_end;13:1767268800.25^15:timestamp_start;13:1767268800"
    b".25^8:trailers;0:~7:content;0:,7:headers;65:28:4:Host,17:shop.example:8080,]29:6:Acc"
    b"ept,16:application/json,]]12:http_version;8:HTTP/1.1,}6:backup;0:~17:timestamp_creat"
    b"ed;13:1767268800.25^7:comment;9:a comment;8:metadata;61:9:strangler;45:1:n;20:1:1#3:"
    b"2.5^0:~4:true!]4:side;7:primary;}}6:marked;12::red_circle:;9:is_replay;0:~11:interce"
    b"pted;5:false!11:server_conn;374:3:via;0:~19:timestamp_tcp_setup;0:~7:address;23:12:s"
    b"hop.example;4:8080#]19:timestamp_tls_setup;0:~13:timestamp_end;0:~15:timestamp_start"
    b";0:~3:sni;0:~11:tls_version;0:~11:cipher_list;0:]6:cipher;0:~11:alpn_offers;0:]4:alp"
    b"n;0:~16:certificate_list;0:]3:tls;5:false!5:error;0:~18:transport_protocol;3:tcp;2:i"
    b"d;36:00000000-0000-4000-8000-000000000012;8:sockname;0:~8:peername;0:~}11:client_con"
    b"n;388:10:proxy_mode;7:regular;8:mitmcert;0:~19:timestamp_tls_setup;0:~13:timestamp_e"
    b"nd;0:~15:timestamp_start;13:1767268800.25^3:sni;0:~11:tls_version;0:~11:cipher_list;"
    b"0:]6:cipher;0:~11:alpn_offers;0:]4:alpn;0:~16:certificate_list;0:]3:tls;5:false!5:er"
    b"ror;0:~18:transport_protocol;3:tcp;2:id;36:00000000-0000-4000-8000-000000000002;8:so"
    b"ckname;16:9:127.0.0.1;1:0#]8:peername;16:9:127.0.0.1;1:0#]}5:error;50:9:timestamp;13"
    b":1767268800.25^3:msg;11:no response;}2:id;36:00000000-0000-4000-8000-000000000022;4:"
    b"type;4:http;7:version;2:21#}"
)


def golden_twins() -> list[HttpFlow]:
    """The two GOLDEN flows, built with the kit's own types."""
    request = FlowRequest(
        "GET",
        "/api/items/1?page=2",
        "shop.example",
        8080,
        headers=((b"Host", b"shop.example:8080"), (b"Accept", b"application/json")),
        content=b"",
        timestamp_start=1767268800.25,
        timestamp_end=1767268800.25,
    )
    response = FlowResponse(
        200,
        "OK",
        headers=((b"Content-Type", b"application/json"), (b"content-length", b"12")),
        content=b'{"name": "x"',
        timestamp_start=1767268800.25,
        timestamp_end=1767268800.5,
    )
    metadata = {"strangler": {"side": "primary", "n": [1, 2.5, None, True]}}
    common: dict[str, Any] = {
        "comment": "a comment",
        "metadata": metadata,
        "timestamp_created": 1767268800.25,
    }
    return [
        HttpFlow(request, response, id="00000000-0000-4000-8000-000000000021", **common),
        HttpFlow(
            request,
            error="no response",
            marked=":red_circle:",
            id="00000000-0000-4000-8000-000000000022",
            **common,
        ),
    ]


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- tnetstrings ----------------------------------------------------------------------------------
def test_tnetstrings_as_specified_and_as_mitmproxy_writes_them() -> None:
    # https://tnetstring.org's examples, and mitmproxy's text extension (";")
    assert dumps(b"hello world") == b"11:hello world,"
    assert dumps("hello world") == b"11:hello world;"
    assert dumps(12345) == b"5:12345#"
    assert dumps([12345, True, 0]) == b"19:5:12345#4:true!1:0#]"
    assert dumps([None, False, -3, 1.5, (b"a",)]) == b"29:0:~5:false!2:-3#3:1.5^4:1:a,]]"
    assert dumps("é") == b"2:\xc3\xa9;"
    # a dict's items come out last first, as mitmproxy's encoder writes them
    assert dumps({"a": 1, "b": b"x"}) == b"16:1:b;1:x,1:a;1:1#}"
    value = {"k": [1, 2.25, None, True, b"\x00\xff", "t", {"n": {}}], b"raw": -7}
    assert loads(dumps(value)) == value
    assert loads(dumps(0.1 + 0.2)) == 0.1 + 0.2  # repr round-trips
    with pytest.raises(TypeError):
        dumps({1, 2})
    with pytest.raises(TypeError):
        dumps({1: "key is not text"})
    fo = io.BytesIO(dumps("one") + dumps({"two": 2}))
    assert load(fo) == "one" and load(fo) == {"two": 2}
    with pytest.raises(EOFError):
        load(fo)


def deeply_nested(depth: int) -> bytes:
    data = b"0:]"
    for _ in range(depth):
        data = b"%d:%s]" % (len(data), data)
    return data


@pytest.mark.parametrize(
    "data",
    [
        b"",  # nothing
        b"3:abc",  # no type tag
        b"5:abc,",  # shorter than its prefix
        b"3:abc?",  # unknown tag
        b"x:1,",  # no length prefix
        b"1234567890123:x,",  # absurd prefix
        b"3:1.x^",
        b"2:1a#",
        b"4:tru!",
        b"1:x~",
        b"2:\xff\xfe;",  # text that is not UTF-8
        b"3:1:a}",  # an item longer than its container
        b"4:1:a;}",  # a key without a value
        b"8:1:1#1:a;}",  # a key that is not text
        b"3:1:a,extra",  # bytes after the value
    ],
)
def test_malformed_tnetstrings_are_errors(data: bytes) -> None:
    with pytest.raises(TNetstringError):
        loads(data)


def test_nesting_too_deep_is_an_error_not_a_crash() -> None:
    with pytest.raises(TNetstringError, match="nested too deeply"):
        loads(deeply_nested(3000))


# -- the state mitmproxy writes -------------------------------------------------------------------
def test_our_flows_are_byte_for_byte_what_mitmproxy_11_writes() -> None:
    assert FLOW_FORMAT_VERSION == 21
    written = b""
    for i, flow in enumerate(golden_twins(), 1):
        state = flow.state()
        # connection ids are random uuid4s, as mitmproxy's; pin them like the golden file
        state["client_conn"]["id"] = f"00000000-0000-4000-8000-00000000000{i}"  # type: ignore[index]
        state["server_conn"]["id"] = f"00000000-0000-4000-8000-00000000001{i}"  # type: ignore[index]
        written += dumps(state)
    assert written == GOLDEN


def test_a_file_mitmproxy_wrote_reads_back(tmp_path: Path) -> None:
    flows, other = read_http_flows([write_bytes(tmp_path / "golden.flows", GOLDEN)])
    assert other == 0
    assert flows == golden_twins()
    exchange, failed = flows
    assert exchange.request.header("HOST") == "shop.example:8080"
    assert exchange.response is not None and exchange.response.reason == "OK"
    assert failed.response is None and failed.error == "no response"


def test_round_trip_of_our_writer_and_reader(tmp_path: Path) -> None:
    odd_path = "/api/items/caf\udce9?q=a%20b"  # a latin-1 byte: not UTF-8, kept as mitmproxy
    flows = [
        *golden_twins(),
        HttpFlow(
            FlowRequest(
                "POST",
                odd_path,
                "2001:db8::1",
                8443,
                scheme="https",
                http_version="HTTP/2.0",
                headers=((b"content-type", b"application/octet-stream"), (b"x-a", b"\xe9")),
                content=bytes(range(256)),
                authority="[2001:db8::1]:8443",
                timestamp_start=T0,
                trailers=((b"grpc-status", b"0"),),
            ),
            FlowResponse(
                418,
                "I'm a teapot",
                "HTTP/2.0",
                headers=((b"content-encoding", b"gzip"),),
                content=gzip.compress(b'{"tea": true}'),
                timestamp_start=T0 + 1,
                timestamp_end=None,
            ),
            comment="multi\nline ✓",
            metadata={"strangler": {"nested": {"list": [1, "two", None]}}},
            timestamp_created=T0 - 1,
        ),
        HttpFlow(
            FlowRequest("GET", "/streamed", content=None),
            error="timeout",
            timestamp_created=0.0,
        ),
    ]
    path = tmp_path / "out" / "round.flows"
    assert write_flows(path, flows) == 4
    assert read_http_flows([path]) == (flows, 0)
    assert not list(path.parent.glob(".*.tmp"))  # written atomically
    assert write_flows(tmp_path / "empty.flows", []) == 0
    assert read_http_flows([tmp_path / "empty.flows"]) == ([], 0)


def old_state(flow: HttpFlow, version: int) -> dict[str, Any]:
    """``flow``'s state as mitmproxy 9 (18), 10 (19, 20) or 11/12 (21) wrote it: the HTTP parts
    are the same; the connections differ (mitmproxy/io/compat.py, convert_18_19 and on)."""
    state: dict[str, Any] = flow.state()
    state["version"] = version
    for conn in (state["client_conn"], state["server_conn"]):
        if version <= 19:
            conn["state"] = 0
        if version <= 18:
            conn["tls_established"] = conn.pop("tls")
            conn["cipher_name"] = conn.pop("cipher")
    if version <= 18:
        state["client_conn"]["address"] = state["client_conn"].pop("peername")
        state["client_conn"]["tls_extensions"] = []
        state["server_conn"]["ip_address"] = state["server_conn"].pop("peername")
        state["server_conn"]["source_address"] = state["server_conn"].pop("sockname")
        state["server_conn"]["via2"] = state["server_conn"].pop("via")
    return state


@pytest.mark.parametrize("version", [18, 19, 20, 21])
def test_the_formats_of_mitmproxy_9_to_12_are_read(tmp_path: Path, version: int) -> None:
    flows = golden_twins()
    data = b"".join(dumps(old_state(f, version)) for f in flows)
    assert read_http_flows([write_bytes(tmp_path / "old.flows", data)]) == (flows, 0)


def test_older_spellings_are_tolerated(tmp_path: Path) -> None:
    """Text where bytes are due and the reverse, bytes keys (files of Python 2 mitmproxies),
    boolean marks (before format 13), no comment or authority (before 14), integer times."""
    state: dict[Any, Any] = old_state(golden_twins()[0], 12)
    request, response = state["request"], state["response"]
    request.update(host=b"shop.example", method="get", path="/api/items/1?page=2", port=8080)
    request.update(timestamp_start=1767268800, headers=[["Host", b"shop.example:8080"]])
    del request["authority"], state["comment"]
    response["reason"] = "OK"
    state["marked"] = True
    state["type"] = b"http"
    state = {k.encode(): v for k, v in state.items()}
    (flow,), other = read_http_flows([write_bytes(tmp_path / "old.flows", dumps(state))])
    assert other == 0
    assert flow.request.method == "get" and _to_request(flow).method == "GET"
    assert flow.request.host == "shop.example" and flow.request.authority == ""
    assert flow.request.headers == ((b"Host", b"shop.example:8080"),)
    assert flow.request.timestamp_start == 1767268800.0
    assert flow.comment == "" and flow.marked == ":default:"


def test_other_kinds_of_flows_are_counted_not_read(tmp_path: Path) -> None:
    tcp = {"version": 21, "type": "tcp", "id": "t", "messages": [[True, b"x", 1.0]]}
    dns = {"version": 21, "type": "dns", "id": "d"}
    data = dumps(tcp) + GOLDEN + dumps(dns)
    flows, other = read_http_flows([write_bytes(tmp_path / "mixed.flows", data)])
    assert len(flows) == 2 and other == 2


def test_a_recorded_request_as_replay_sends_it() -> None:
    """HTTP/2: Host from :authority; framing and the proxy's marks dropped; the recorded
    response's body decoded as mitmproxy shows it (Content-Encoding)."""
    flow = HttpFlow(
        FlowRequest(
            "post",
            "/api/items/?x=1",
            "shop.example",
            443,
            scheme="https",
            http_version="HTTP/2.0",
            headers=(
                (b"content-length", b"2"),
                (b"x-strangler-shadow", b"1"),
                (b"Accept", b"application/json"),
            ),
            content=b"{}",
            authority="shop.example",
            timestamp_start=100.0,
        ),
        FlowResponse(
            201,
            headers=((b"Content-Encoding", b"gzip"), (b"Content-Type", b"application/json")),
            content=gzip.compress(b'{"id": 9}'),
            timestamp_start=100.1,
            timestamp_end=100.25,
        ),
    )
    req = _to_request(flow)
    assert (req.method, req.target, req.body) == ("POST", "/api/items/?x=1", b"{}")
    assert req.headers == (("Host", "shop.example"), ("Accept", "application/json"))
    assert req.recorded is not None
    assert req.recorded.status == 201 and req.recorded.body == b'{"id": 9}'
    assert req.recorded.latency == pytest.approx(0.25)
    # a coding that does not decode (or is unknown) stays as recorded, as mitmproxy shows it
    broken = FlowResponse(200, headers=((b"content-encoding", b"gzip"),), content=b"not gzip")
    assert broken.decoded_content() == b"not gzip"
    unknown = FlowResponse(200, headers=((b"content-encoding", b"x-custom"),), content=b"raw")
    assert unknown.decoded_content() == b"raw"


# -- corrupt files --------------------------------------------------------------------------------
def flow_state_with(**request_fields: object) -> bytes:
    state: dict[str, Any] = golden_twins()[0].state()
    state["request"].update(request_fields)
    return dumps(state)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"this is not a flow file\x00\xff", r"flow 1: missing or invalid length prefix"),
        (GOLDEN[:-40], r"flow 2: truncated"),
        (GOLDEN + b"\n", r"flow 3: missing or invalid length prefix"),
        (dumps([1, 2, 3]), r"flow 1: a list, not a flow state"),
        (dumps({"type": "http"}), r"flow 1: a dict without a flow format version"),
        (dumps({"version": [0, 11], "type": "http"}), r"mitmproxy 3 or older"),
        (dumps({"version": 21, "id": "x"}), r"flow 1: a flow state without a type"),
        (dumps({"version": 21, "type": "http"}), r"flow 1: no 'request'"),
        (flow_state_with(method=None), r"'method' is a NoneType, not bytes"),
        (flow_state_with(port="80"), r"'port' is a str, not an integer"),
        (flow_state_with(headers=[[b"a", b"b", b"c"]]), r"'headers' holds .* not a \[name"),
        (flow_state_with(headers=[[b"a", 1]]), r"'headers' holds .* not a pair of bytes"),
        (flow_state_with(timestamp_start=b"now"), r"'timestamp_start' is a bytes"),
        (GOLDEN + deeply_nested(3000), r"flow 3: containers nested too deeply"),
    ],
)
def test_corrupt_files_are_flow_file_errors(tmp_path: Path, data: bytes, message: str) -> None:
    bad = write_bytes(tmp_path / "bad.flows", data)
    with pytest.raises(FlowFileError, match=re.escape(f"{bad}: not a readable mitmproxy ")):
        read_http_flows([bad])
    with pytest.raises(FlowFileError, match=message):
        read_http_flows([bad])


def test_every_cut_of_a_file_is_an_error_or_its_whole_flows(tmp_path: Path) -> None:
    whole = golden_twins()
    first = len(dumps(whole[0].state()))
    for cut in range(len(GOLDEN)):
        path = write_bytes(tmp_path / "cut.flows", GOLDEN[:cut])
        if cut in (0, first):
            assert read_http_flows([path]) == (whole[: 1 if cut else 0], 0)
            continue
        with pytest.raises(FlowFileError):
            read_http_flows([path])


def test_har_missing_and_unreadable_files(tmp_path: Path) -> None:
    har = write_bytes(tmp_path / "x.har", b'\xef\xbb\xbf{"log": {"entries": []}}')
    with pytest.raises(FlowFileError, match=r"a HAR file, not a mitmproxy flow file .*mitmdump"):
        read_http_flows([har])
    with pytest.raises(FlowFileError, match=r"missing\.flows: cannot read: No such file"):
        read_http_flows([tmp_path / "missing.flows"])
    with pytest.raises(FlowFileError, match=r": cannot read: Is a directory"):
        read_http_flows([tmp_path])


# -- in process: export, the route filter, exit codes ---------------------------------------------
def routing_table(folder: Path, legacy_url: str, service_url: str) -> Path:
    path = folder / "routing.yaml"
    path.write_text(
        table_yaml(
            {"legacy": legacy_url, "svc": service_url},
            [
                {
                    "name": "items",
                    "match": {"prefix": "/api/items/"},
                    "mode": "shadow",
                    "to": "svc",
                    "shadow": {"noise_sample": 0, "recheck_delay": 0},
                },
                {"name": "other", "match": {"prefix": "/api/other/"}, "mode": "legacy"},
            ],
        )
    )
    return path


def traffic_flow(method: str, target: str) -> HttpFlow:
    return HttpFlow(
        FlowRequest(method, target, headers=((b"Host", b"shop.example"),), timestamp_start=T0),
        FlowResponse(200, "OK", content=b"{}", timestamp_start=T0, timestamp_end=T0 + 0.01),
    )


def test_the_route_filter_and_exit_codes_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: a replayed request fails
    table_path = routing_table(tmp_path, dead, dead)
    table = load_table(table_path)
    others = write_flows(
        tmp_path / "others.flows",
        [traffic_flow("GET", "/api/other/1"), traffic_flow("GET", "/healthz")],
    )
    mixed = tmp_path / "mixed.flows"
    write_flows(
        mixed,
        [
            traffic_flow("GET", "/api/items/1"),
            traffic_flow("POST", "/api/items/"),
            traffic_flow("GET", "/api/other/2"),
        ],
    )
    assert others == 2
    nothing = replay([tmp_path / "others.flows"], table, "items", dead, dead)
    assert (nothing.http_flows, nothing.other_routes, nothing.exit_code) == (2, 2, 2)
    failed = replay([mixed], table, "items", dead, dead)
    assert (failed.replayed, failed.skipped_writes, failed.other_routes) == (1, 1, 1)
    assert failed.results[0].comparison.verdict is Verdict.ERROR
    assert failed.exit_code == 1
    with pytest.raises(KeyError):
        replay([mixed], table, "nope", dead, dead)

    base = ["shadow", "replay", "--table", str(table_path)]
    assert main([*base, str(tmp_path / "others.flows"), "--route", "items"]) == 2
    assert "nothing to replay: no request in the flow files goes to route 'items'" in (
        capsys.readouterr().err
    )
    assert main([*base, str(mixed), "--route", "items", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"] == 1
    garbage = write_bytes(tmp_path / "garbage.flows", b"garbage")
    assert main([*base, str(mixed), str(garbage), "--route", "items"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"strangler shadow replay: {garbage}: not a readable mitmproxy flow")


def test_export_in_process_writes_what_the_reader_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()  # the CLI's store keeps samples 7 days from its (real) clock
    store = open_store(None, tmp_path / "shadow.sqlite3")
    store.record(
        make_result(
            json_side({"id": 1, "price": "1.00"}),
            json_side({"id": 1, "price": "1.50"}),
            route="detail",
            request_headers=(("Host", "[::1]:8443"), ("Connection", "keep-alive")),
            target="/api/detail/1?x=%C3%A9",
            at=now,
        )
    )
    store.flush()
    store.close()
    out = tmp_path / "detail.flows"
    url = f"sqlite:///{tmp_path / 'shadow.sqlite3'}"
    assert main(["shadow", "export", "detail", "--out", str(out), "--store", url]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: 1 mismatches of detail (2 flows")
    primary, shadow = read_http_flows([out])[0]
    assert (primary.request.host, primary.request.port) == ("::1", 8443)
    assert primary.request.headers == ((b"Host", b"[::1]:8443"),)  # hop-by-hop dropped
    assert primary.request.path == "/api/detail/1?x=%C3%A9"
    assert primary.response is not None and json.loads(primary.response.content or b"") == {
        "id": 1,
        "price": "1.00",
    }
    assert shadow.response is not None and b'"1.50"' in (shadow.response.content or b"")
    assert shadow.error is None and "$.price  value" in primary.comment
    assert shadow.marked == ":red_circle:" and primary.marked == ""
    assert primary.metadata["strangler"]["shadow_flow"] == shadow.id  # type: ignore[index]
    assert primary.timestamp_created == now


# -- no mitmproxy anywhere ------------------------------------------------------------------------
def test_nothing_of_the_kit_imports_or_depends_on_mitmproxy(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['mitmproxy'] = None\n"  # any import of it would fail
        "import strangler_proxy.server, strangler_proxy.proxy, strangler_proxy.shadow\n"
        "from strangler_proxy.cli import main\n"
        "out = sys.argv[1]\n"
        "store = 'sqlite:///' + sys.argv[2]\n"
        "assert main(['shadow', 'export', 'items', '--out', out, '--store', store]) == 0\n"
        "assert main(['shadow', 'replay', out, '--route', 'items', '--table', sys.argv[3]]) == 2\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mitmproxy'))\n"
    )
    table = routing_table(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    args = [str(tmp_path / "x.flows"), str(tmp_path / "s.sqlite3"), str(table)]
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['mitmproxy']"  # only our None entry
    assert (tmp_path / "x.flows").read_bytes() == b""  # an empty, valid flow file

    sources = [p for p in (REPO / "strangler_proxy").rglob("*.py")]
    importing = [
        str(p)
        for p in sources
        if re.search(r"^\s*(import|from)\s+mitmproxy\b", p.read_text(), re.MULTILINE)
    ]
    assert importing == []
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [
        *project["dependencies"],
        *(r for extra in project.get("optional-dependencies", {}).values() for r in extra),
    ]
    assert not [r for r in requirements if "mitmproxy" in r.lower()]
