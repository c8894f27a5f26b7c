from __future__ import annotations

from strangler_proxy.balancing import Balance, Outlier, Pool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_round_robin_order() -> None:
    pool = Pool(["a", "b", "c"])
    assert [pool.pick().url for _ in range(6)] == ["a", "b", "c", "a", "b", "c"]


def test_least_outstanding_steers_away_from_busy() -> None:
    pool = Pool(["a", "b"], balance=Balance.LEAST_OUTSTANDING)
    pool.instances[0].outstanding = 5
    assert {pool.pick().url for _ in range(10)} == {"b"}
    pool.instances[1].outstanding = 5
    assert {pool.pick().url for _ in range(10)} == {"a", "b"}  # ties rotate


def test_ejection_after_consecutive_failures_and_return() -> None:
    clock = Clock()
    ejected: list[str] = []
    pool = Pool(
        ["a", "b"],
        Outlier(consecutive_failures=3, ejection_time=30),
        clock=clock,
        on_eject=lambda i: ejected.append(i.url),
    )
    a = pool.instances[0]
    pool.report(a, False)
    pool.report(a, False)
    pool.report(a, True)  # a success resets the streak
    pool.report(a, False)
    pool.report(a, False)
    assert ejected == []
    pool.report(a, False)
    assert ejected == ["a"]
    assert {pool.pick().url for _ in range(5)} == {"b"}
    clock.now += 30
    assert {pool.pick().url for _ in range(4)} == {"a", "b"}


def test_repeated_ejections_grow_up_to_the_cap() -> None:
    clock = Clock()
    pool = Pool(["a", "b"], Outlier(1, ejection_time=30, max_ejection_time=100), clock=clock)
    a = pool.instances[0]
    durations = []
    for _ in range(4):
        pool.report(a, False)
        durations.append(a.ejected_until - clock.now)
        clock.now = a.ejected_until
    assert durations == [30, 60, 100, 100]


def test_never_more_than_the_share_is_ejected() -> None:
    clock = Clock()
    pool = Pool(["a", "b", "c", "d"], Outlier(1, max_ejected_percent=50), clock=clock)
    for inst in pool.instances:
        pool.report(inst, False)
    out = [i.url for i in pool.instances if i.ejected_until > clock.now]
    assert out == ["a", "b"]


def test_single_instance_can_be_ejected_and_still_serves() -> None:
    clock = Clock()
    pool = Pool(["a"], Outlier(1, max_ejected_percent=50), clock=clock)
    pool.report(pool.instances[0], False)
    assert pool.instances[0].ejected_until > clock.now
    assert pool.pick().url == "a"  # the only one left: used rather than failing


def test_health_checks_take_instances_out() -> None:
    pool = Pool(["a", "b"])
    pool.set_health("a", False)
    assert {pool.pick().url for _ in range(4)} == {"b"}
    pool.set_health("a", True)
    assert {pool.pick().url for _ in range(4)} == {"a", "b"}


def test_registered_instances_join_and_leave() -> None:
    pool = Pool(["a"])
    pool.add("r1")
    assert {pool.pick().url for _ in range(4)} == {"a", "r1"}
    pool.remove("r1")
    pool.remove("a")  # static instances are not removed by the registry
    assert [i.url for i in pool.instances] == ["a"]


def test_pick_avoids_the_instance_that_just_failed() -> None:
    pool = Pool(["a", "b"])
    a = pool.instances[0]
    assert {pool.pick(avoid=a).url for _ in range(6)} == {"b"}
    solo = Pool(["a"])
    assert solo.pick(avoid=solo.instances[0]).url == "a"  # nothing else to take
