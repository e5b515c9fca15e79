"""Domain errors the web layer maps once: NotFound -> 404, Forbidden -> 403, BadRequest -> 400."""


class ConsoleError(Exception):
    """Base class of every error the console raises on purpose."""


class NotFound(ConsoleError):
    """The object does not exist, or the user may not know that it exists."""


class Forbidden(ConsoleError):
    """The user may see the object but not perform the action."""


class BadRequest(ConsoleError):
    """The input is malformed (not an id, wrong type, missing field)."""


class Conflict(ConsoleError):
    """The request clashes with existing state (e.g. a duplicate email)."""
