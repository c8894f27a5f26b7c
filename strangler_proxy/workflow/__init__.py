"""The migration workflow: inventory, promote with gates, rollback, history, status.

Imports nothing at package level so that ``strangler`` starts fast; the CLI entry point is
:func:`strangler_proxy.workflow.cli.register`.
"""
