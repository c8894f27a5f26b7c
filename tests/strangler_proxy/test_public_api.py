import strangler_proxy


def test_public_api_is_pinned() -> None:
    assert sorted(strangler_proxy.__all__) == sorted(
        [
            "ConfigError", "Mode", "Problem", "ProxyServer", "Route", "RoutingTable",
            "StranglerError", "Upstream", "UpstreamError", "load_table", "parse_table", "run",
        ]
    )  # fmt: skip
    for name in strangler_proxy.__all__:
        assert getattr(strangler_proxy, name) is not None
