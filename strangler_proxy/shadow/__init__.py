"""Shadow traffic evidence: compare, learn noise, store, report.

The proxy's mirroring (not this package) sends the shadow copy and hands over both answers::

    rules = CompareRules.from_config(route_yaml["shadow"]["compare"])   # ValueError("key: …")
    comparison = compare(primary, shadow, rules, learner.noise(route))  # → Comparison
    if comparison.verdict is Verdict.MISMATCH:          # ask both sides again a moment later
        comparison = classify_race(comparison, compare(primary2, shadow2, rules, noise))
    result = ShadowResult(route, method, target, request_headers, primary, shadow,
                          comparison, time.time(), request_id, redact=rules.redact)
    metrics.observe(result); store.record(result)       # never blocks
    # for a sample of requests, the monolith is asked twice:
    store.record_noise(learner.observe(route, primary, primary_again, rules))

API:

* ``compare(primary: Captured, shadow: Captured, rules: CompareRules,
  noise: frozenset[str] = frozenset()) -> Comparison`` and
  ``classify_race(first: Comparison, recheck: Comparison) -> Comparison``;
  ``decoded_headers(raw_pairs)``: headers as sent (latin-1), as ``Captured`` keeps them;
  ``decoded_body(content, content_encoding, limit)``: a body as compared (gzip, deflate
  decoded; ``Captured`` keeps bodies decoded, headers as sent)
* ``CompareRules(headers=("content-type",), ignore=(), tolerance={}, unordered={},
  matchers={}, redact=())``, ``CompareRules.from_config(mapping) -> CompareRules``
* ``NoiseLearner(min_count=3, *, clock=time.time)``:
  ``.observe(route, first, second, rules) -> NoiseSample``, ``.noise(route) -> frozenset[str]``,
  ``.counts(route)``, ``.replace(counts_by_route)`` (the store's, taken every few seconds)
* ``open_store(url: str | None, path_default: Path, **options) -> ShadowStore``;
  ``.start()``, ``.record(result) -> bool``, ``.record_noise(sample) -> bool``, ``.flush()``,
  ``.close()``, ``.snapshot(route=None)``; ``.dropped``, ``.write_errors``
* ``build_report(store, route: str | None, thresholds: Thresholds) -> Report``,
  ``render_text(report) -> str``, ``report_json(report) -> dict``,
  ``add_report_arguments(parser)``, ``run_report(args) -> int`` (0 pass, 1 fail, 2 not enough)
* ``ShadowStore.reset(route, noise=False) -> int`` (raises ``RouteNotStored``, ``StoreMissing``),
  ``add_reset_arguments(parser)``, ``run_reset(args) -> int``: forget a route's evidence (after
  the service was fixed)
* ``export_mismatches(store, route, path, limit) -> int`` (a mitmproxy flow file, two flows per
  mismatch), ``replay(flow_paths, table, route, legacy_url, service_url) -> ReplayResult``,
  ``render_replay(result)``, ``replay_json(result)`` and their CLI halves
  (``add_export_arguments``/``run_export``, ``add_replay_arguments``/``run_replay``); the flow
  files are mitmproxy's format, read and written here (the kit does not depend on mitmproxy)
* ``ShadowMetrics()``: ``.observe(result)``, ``.dropped(route)``, ``.render_prometheus() -> str``
* ``redact_result(result) -> ShadowResult`` (the store applies it before writing)

Defaults, chosen for DRF responses:

* headers compared: ``content-type`` only; ``Date`` and ``Server`` are never compared;
* JSON: key order never matters; numbers compare by value (``1`` = ``1.0``); decimal strings
  (``"12.50"``) stay strings unless a ``tolerance`` covers their path, then they compare
  numerically (``"12.50"`` vs ``"12.51"`` within ``0.01``); arrays are ordered unless
  ``unordered`` names their key field;
* non-JSON bodies: normalized bytes (CRLF → LF, trailing blanks per line and trailing
  newlines dropped);
* noise: a field is noise after differing in 3 monolith-vs-monolith comparisons;
* store: queue 10 000, batches of 500 or every 250 ms, 5 examples per (route, field) kept 7
  days, bodies in examples cut at 16 KiB;
* report: at least 100 comparable responses, match rate >= 99%, service error rate at most
  1 point above the monolith's.
"""

from ._report_cli import add_reset_arguments, run_reset
from ._types import NoiseSample, decoded_body, decoded_headers
from .compare import (
    Captured,
    CompareRules,
    Comparison,
    Difference,
    Matcher,
    ShadowResult,
    Tolerance,
    Verdict,
    classify_race,
    compare,
)
from .flows import (
    FlowFileError,
    ReplayResult,
    add_export_arguments,
    add_replay_arguments,
    export_mismatches,
    render_replay,
    replay,
    replay_json,
    run_export,
    run_replay,
)
from .metrics import ShadowMetrics
from .noise import NoiseLearner
from .redact import redact_result
from .report import (
    Report,
    RouteReport,
    RouteVerdict,
    Thresholds,
    add_report_arguments,
    build_report,
    render_text,
    report_json,
    run_report,
)
from .store import ShadowStore, open_store

__all__ = [
    "Captured",
    "CompareRules",
    "Comparison",
    "Difference",
    "FlowFileError",
    "Matcher",
    "NoiseLearner",
    "NoiseSample",
    "ReplayResult",
    "Report",
    "RouteReport",
    "RouteVerdict",
    "ShadowMetrics",
    "ShadowResult",
    "ShadowStore",
    "Thresholds",
    "Tolerance",
    "Verdict",
    "add_export_arguments",
    "add_replay_arguments",
    "add_report_arguments",
    "add_reset_arguments",
    "build_report",
    "classify_race",
    "compare",
    "decoded_body",
    "decoded_headers",
    "export_mismatches",
    "open_store",
    "redact_result",
    "render_replay",
    "render_text",
    "replay",
    "replay_json",
    "report_json",
    "run_export",
    "run_replay",
    "run_report",
    "run_reset",
]
