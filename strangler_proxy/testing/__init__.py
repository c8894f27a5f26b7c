"""Test helpers that are product code: process control, a fake upstream, table factories."""

from .._procs import Process, ProcessFailed, free_port, wait_until

__all__ = ["Process", "ProcessFailed", "free_port", "wait_until"]
