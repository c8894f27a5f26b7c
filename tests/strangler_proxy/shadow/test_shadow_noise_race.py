from __future__ import annotations

from strangler_proxy.shadow import (
    CompareRules,
    Comparison,
    Difference,
    NoiseLearner,
    Verdict,
    classify_race,
    compare,
)
from strangler_proxy.shadow._fakes import FakeClock, json_side


def product(n: int, stamp: str) -> dict[str, object]:
    return {"id": 1, "name": f"Lamp {n}", "updated_at": stamp}


def test_a_timestamp_that_changes_per_call_is_learned_then_excluded() -> None:
    clock = FakeClock()
    learner = NoiseLearner(min_count=3, clock=clock)
    rules = CompareRules()
    route = "product-detail"
    primary = json_side({"results": [product(1, "t0")]})
    shadow = json_side({"results": [product(1, "t9")]})
    assert compare(primary, shadow, rules, learner.noise(route)).verdict is Verdict.MISMATCH
    for i in range(3):
        first = json_side({"results": [product(1, f"t{i}")]})
        again = json_side({"results": [product(1, f"t{i}.5")]})
        sample = learner.observe(route, first, again, rules)
        assert sample.fields == ("$.results[*].updated_at",)
        assert sample.timestamp == clock.now
        if i < 2:
            assert learner.noise(route) == frozenset()
    assert learner.noise(route) == frozenset({"$.results[*].updated_at"})
    assert learner.counts(route) == {"$.results[*].updated_at": 3}
    assert learner.samples(route) == 3
    got = compare(primary, shadow, rules, learner.noise(route))
    assert got.verdict is Verdict.NOISE_ONLY and got.noise == ("$.results[*].updated_at",)
    renamed = json_side({"results": [product(2, "t9")]})
    got = compare(primary, renamed, rules, learner.noise(route))
    assert got.verdict is Verdict.MISMATCH
    assert [d.path for d in got.differences] == ["$.results[0].name"]
    assert learner.noise("other-route") == frozenset()


def test_stable_pairs_and_failed_calls_teach_nothing() -> None:
    learner = NoiseLearner(min_count=1)
    same = json_side({"a": 1})
    assert learner.observe("r", same, same, CompareRules()).fields == ()
    failed = json_side(b"", status=None, error="upstream_timeout")
    assert learner.observe("r", same, failed, CompareRules()).fields == ()
    assert learner.noise("r") == frozenset() and learner.samples("r") == 2


def test_counts_from_the_store_replace_what_was_counted() -> None:
    learner = NoiseLearner(min_count=5)
    learner.replace({"r": {"$.u": 4, "$.v": 1}})
    assert learner.noise("r") == frozenset()
    learner.observe("r", json_side({"u": 1}), json_side({"u": 2}), CompareRules())
    assert learner.noise("r") == frozenset({"$.u"})
    learner.replace({"other": {"$.w": 5}})  # r's noise was forgotten in the store
    assert learner.noise("r") == frozenset() and learner.counts("r") == {}
    assert learner.noise("other") == frozenset({"$.w"})


MISMATCH = Comparison(Verdict.MISMATCH, (Difference("$.stock", "value", 3, 2),))


def test_a_mismatch_that_disappears_is_a_likely_race() -> None:
    for recheck in (Verdict.MATCH, Verdict.NOISE_ONLY):
        got = classify_race(MISMATCH, Comparison(recheck, ()))
        assert got.verdict is Verdict.LIKELY_RACE
        assert got.differences == MISMATCH.differences


def test_a_mismatch_that_persists_or_cannot_be_rechecked_stays() -> None:
    assert classify_race(MISMATCH, MISMATCH) is MISMATCH
    error = Comparison(Verdict.ERROR, (Difference("error", "error", None, "upstream_timeout"),))
    assert classify_race(MISMATCH, error) is MISMATCH


def test_only_mismatches_are_reclassified() -> None:
    match = Comparison(Verdict.MATCH, ())
    assert classify_race(match, MISMATCH) is match
