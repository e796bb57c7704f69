"""What one call did (:class:`Outcome`), turned into its :class:`InvocationResult`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._models import InvocationResult

__all__ = ["Outcome"]


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which cost
# about 1 us per call on the hot path (11 fields); nothing changes an Outcome after it is made.
@dataclass(slots=True)
class Outcome:
    """One call's end: its status and what the instance said about it.

    ``status`` is one of: success, error, timeout, memory_limit, crashed, throttled.
    """

    status: str
    duration_ms: float
    output: Any = None
    error: str | None = None
    error_type: str | None = None
    cold: bool = False
    init_ms: float = 0.0
    instance_id: str | None = None
    rss_mb: float = 0.0
    logs: str = ""
    traceback: str = ""

    def result(
        self,
        *,
        request_id: str,
        function_id: str,
        function_name: str,
        memory_limit_mb: int,
        started_at: float,
    ) -> InvocationResult:
        """The invocation's result (billed_duration_ms is the ledger's to fill in)."""
        return InvocationResult(
            request_id=request_id,
            function_id=function_id,
            function_name=function_name,
            status=self.status,
            output=self.output,
            error=self.error,
            error_type=self.error_type,
            duration_ms=self.duration_ms,
            billed_duration_ms=0,
            memory_used_mb=self.rss_mb,
            memory_limit_mb=memory_limit_mb,
            cold_start=self.cold,
            init_duration_ms=self.init_ms,
            started_at=started_at,
            instance_id=self.instance_id,
            logs=self.logs,
            traceback=self.traceback,
        )
