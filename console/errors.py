"""The console's one error vocabulary, and the one table that maps it to answers.

Services raise these (never a bare ValueError for a domain refusal); the web layer turns them
into HTTP answers and Dash callback answers (console.web.security), the CLI into one line on
stderr with exit code 2 (console.cli) — both through ``ANSWERS`` below, so a new error class
picks a row instead of adding an ``except`` somewhere."""

from __future__ import annotations

from typing import NamedTuple


class ConsoleError(Exception):
    """Base class of every error the console raises on purpose."""


class NotFound(ConsoleError):
    """The object does not exist, or the user may not know that it exists."""


class Forbidden(ConsoleError):
    """The user may see the object but not perform the action."""


class BadRequest(ConsoleError):
    """The input is malformed (not an id, wrong type, missing field, unknown option)."""


class Conflict(ConsoleError):
    """The request clashes with existing state (a duplicate email, a change the run's status refuses)."""


class Unavailable(ConsoleError):
    """A service the request needs is down (the task queue, the database): try again later."""


class Unauthenticated(ConsoleError):
    """No credentials, or credentials that do not (or no longer) authenticate (an API token
    missing, unknown, expired or revoked)."""


class Gone(ConsoleError):
    """The object existed but is gone for good (an expired review pack's file)."""


# -- what an HTTP request itself can get wrong (the API answers these as problem details too)


class MethodNotAllowed(BadRequest):
    """The URL exists, but not for this HTTP method."""


class PayloadTooLarge(BadRequest):
    """The request body is larger than the endpoint accepts."""


class UnsupportedMediaType(BadRequest):
    """The request body is not in a format the endpoint reads (e.g. not application/json)."""


class Unprocessable(BadRequest):
    """The body is well-formed JSON but does not match the endpoint's schema."""


class RateLimited(ConsoleError):
    """Too many requests for this client (an API token) in the current window."""


# -- the operations core's errors are the same vocabulary, with a name that says more


class RunNotFound(NotFound):
    """No run with that id."""


class InvalidTransition(Conflict):
    """The run's status does not allow the requested change (e.g. completing a completed run)."""


class TotalAlreadySet(Conflict):
    """``total`` is written once; a second, different value is a writer bug."""


class UnknownOperationType(BadRequest):
    """The type is not in the operation-type registry."""


class DispatchError(Unavailable):
    """The broker did not take the message."""


class Answer(NamedTuple):
    status: int  # HTTP status, for pages, callbacks and the API
    public: str  # what an HTTP client is told when the message could reveal something
    cli_prefix: str  # what the CLI prints before the message
    title: str = ""  # the API's problem title (RFC 9457); its ``type`` is derived from it (problem_type)


#: Most specific class first; ``answer_for`` walks the exception's MRO.
ANSWERS: dict[type[ConsoleError], Answer] = {
    NotFound: Answer(404, "not found", "not found", "Not Found"),
    Forbidden: Answer(403, "not allowed", "not allowed", "Forbidden"),
    MethodNotAllowed: Answer(405, "", "bad request", "Method Not Allowed"),
    PayloadTooLarge: Answer(413, "", "bad request", "Payload Too Large"),
    UnsupportedMediaType: Answer(415, "", "bad request", "Unsupported Media Type"),
    Unprocessable: Answer(422, "", "bad request", "Unprocessable Content"),
    BadRequest: Answer(400, "", "bad request", "Bad Request"),
    Unauthenticated: Answer(401, "", "not authenticated", "Unauthorized"),
    Conflict: Answer(409, "", "refused", "Conflict"),
    Gone: Answer(410, "", "gone", "Gone"),
    RateLimited: Answer(429, "", "refused", "Too Many Requests"),
    Unavailable: Answer(503, "", "unavailable", "Service Unavailable"),
    ConsoleError: Answer(400, "bad request", "error", "Bad Request"),
}


def problem_type(answer: Answer) -> str:
    """The problem ``type`` URI of an answer: stable, one per row (``urn:console:problem:not-found``)."""
    return "urn:console:problem:" + answer.title.lower().replace(" ", "-")


def answer_for(exc: ConsoleError) -> Answer:
    """The row of ``ANSWERS`` for ``exc`` (its closest class)."""
    for cls in type(exc).__mro__:
        if cls in ANSWERS:
            return ANSWERS[cls]  # type: ignore[index]
    return ANSWERS[ConsoleError]


def http_answer(exc: ConsoleError) -> tuple[str, int]:
    """(message, status) for an HTTP client: 404 and 403 say no more than that."""
    answer = answer_for(exc)
    return (answer.public or str(exc) or "bad request"), answer.status


def problem(exc: ConsoleError) -> dict[str, object]:
    """The API's ``application/problem+json`` body for ``exc`` (404 and 403 say no more)."""
    answer = answer_for(exc)
    detail, status = http_answer(exc)
    return {"type": problem_type(answer), "title": answer.title, "status": status, "detail": detail}


def cli_message(exc: ConsoleError) -> str:
    """One line for the CLI's stderr."""
    answer = answer_for(exc)
    detail = str(exc) or type(exc).__name__
    return f"{answer.cli_prefix}: {detail}" if answer.cli_prefix != "error" else detail
