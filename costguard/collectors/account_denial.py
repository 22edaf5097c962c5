"""Whether an error means costguard cannot get into an account at all.

A member whose role cannot be assumed (missing, or its trust policy does not name costguard),
or whose role answers AccessDenied, is not a flaky source but a configuration problem with one
fix: the `account_access` check reports it once per account, with the role to create.
"""

from __future__ import annotations

from costguard.collectors.session import error_code, error_message
from costguard.text import short

DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure",
    "InvalidClientTokenId", "UnrecognizedClientException", "ExpiredToken",
})
"""Error codes that mean the credentials or the role, not the request, are the problem."""

ERROR_CHARS = 300
"""AWS's message is capped: it is shown in findings and alerts."""


def denial(exc: BaseException) -> str | None:
    """One line when `exc` says the account cannot be entered (AssumeRole failed, or the
    account refused costguard's credentials); None for anything else (throttling, a bug)."""
    code = error_code(exc)
    operation = getattr(exc, "operation_name", "") or ""
    if code is None or (operation != "AssumeRole" and code not in DENIED_CODES):
        return None
    message = short(" ".join(error_message(exc).split()) or code, ERROR_CHARS)
    return f"{operation or 'a call'} refused ({code}): {message}"
