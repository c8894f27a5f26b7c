"""Data tools of the strangler kit: ``strangler data backfill|verify SERVICE``.

- :mod:`.backfill`: resumable, rate-limited, version-aware copy of the monolith's rows.
- :mod:`.verify`: counts, per-row checksums, sampled deep comparisons, event lag; exit 0/1/2.
- :mod:`.cli`: ``add_backfill_arguments``/``run_backfill``, ``add_verify_arguments``/
  ``run_verify`` for the strangler CLI; ``python -m extracted.datatools`` meanwhile.
- :mod:`.spec`: what a service registers (:class:`TableSpec`, :class:`ServiceSpec`).
"""

from extracted.datatools.backfill import BackfillError, TableProgress, backfill_service
from extracted.datatools.spec import ServiceSpec, TableSpec
from extracted.datatools.verify import Verdict, VerifyReport, verify_service

__all__ = [
    "BackfillError",
    "ServiceSpec",
    "TableProgress",
    "TableSpec",
    "Verdict",
    "VerifyReport",
    "backfill_service",
    "verify_service",
]
