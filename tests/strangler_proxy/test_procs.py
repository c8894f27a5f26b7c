"""The test/demo process helpers: ports handed out must be distinct until bound."""

from __future__ import annotations

import socket

from strangler_proxy._procs import _ephemeral_range, free_port


def test_free_port_never_hands_out_the_same_port_twice_in_a_row_of_callers() -> None:
    # a proxy asks for its listen and admin port before it binds either: both pass the bind
    # check, so only the helper's own memory keeps them apart (one CI run lost a test to it)
    ports = [free_port() for _ in range(600)]
    assert len(set(ports)) == len(ports)


def test_free_port_is_below_the_ephemeral_range_and_bindable() -> None:
    low, _ = _ephemeral_range()
    port = free_port()
    assert port < low
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
