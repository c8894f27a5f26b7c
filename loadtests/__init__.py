"""Load tests of the demo shop and the run-comparison tool (``strangler loadtest compare``).

``loadtests/locustfile.py`` models the shop's traffic; ``loadtests/compare.py`` runs it against a
baseline and a candidate and judges the difference. Reference:
``migration_playbook/reference/loadtest.md``.
"""
