"""Before and after the workshop: check, report, top up, rotate, revoke.

Every command works on one workshop (named by its roster or --workshop), reads the server
(all pages, disabled keys included), writes an audit event for what it did, and keeps
keys.xlsx in step with the local state. None of it imports `provision`: both stand on the
workshop session (`workshop`) and the key engine (`apply`).
"""

from keyprov.lifecycle.changes import Change, revoke, set_limit
from keyprov.lifecycle.check import DEFAULT_WARN_DAYS, CheckResult, CheckRow, check_workshop
from keyprov.lifecycle.report import SPEND_CHART_NAME, UsageReport, UsageRow, usage_report
from keyprov.lifecycle.rotation import rotate

__all__ = [
    "DEFAULT_WARN_DAYS",
    "SPEND_CHART_NAME",
    "Change",
    "CheckResult",
    "CheckRow",
    "UsageReport",
    "UsageRow",
    "check_workshop",
    "revoke",
    "rotate",
    "set_limit",
    "usage_report",
]
