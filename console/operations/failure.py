"""What a failure may say to a user: one sanitized line (the error classes are in console.errors)."""

from __future__ import annotations

import re

FAILURE_SUMMARY_MAX = 500
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Credentials that end up in exception messages: URLs with a password, key=value secrets.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@")
_KEY_VALUE_SECRET = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|authorization)\b\s*[=:]\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|\S+)",
    re.IGNORECASE,
)


def sanitize_failure_summary(reason: object, *, max_len: int = FAILURE_SUMMARY_MAX) -> str:
    """One readable line for users: no tracebacks, control characters or credentials, at most ``max_len`` chars."""
    text = str(reason) if reason is not None else ""
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    if not lines:
        return "Operation failed"
    # A traceback's first line says nothing; its last line is the exception itself.
    line = lines[-1] if lines[0].startswith("Traceback (most recent call last)") else lines[0]
    line = _CONTROL.sub("", _ANSI.sub("", line.replace("\t", " ")))
    line = _URL_CREDENTIALS.sub(r"\g<scheme>***@", line)
    line = _KEY_VALUE_SECRET.sub(r"\g<key>***", line)
    line = " ".join(line.split()) or "Operation failed"
    if len(line) > max_len:
        line = line[: max_len - 1].rstrip() + "…"
    return line
