from __future__ import annotations

from collections.abc import Iterator

import pytest

from strangler_proxy.testing.harness import FakeUpstreamProcess


@pytest.fixture(scope="session")
def legacy() -> Iterator[FakeUpstreamProcess]:
    with FakeUpstreamProcess("legacy") as proc:
        yield proc


@pytest.fixture(scope="session")
def catalog() -> Iterator[FakeUpstreamProcess]:
    with FakeUpstreamProcess("catalog") as proc:
        yield proc
