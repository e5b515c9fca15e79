"""The operations list's free-text search as one SQL clause, shaped so PostgreSQL can use an index
for every arm of its ``OR`` (migration 0007), with the same results on SQLite.

A search term matches a run by:

* ``#123`` — that run only (a primary-key lookup);
* its failure text — ``lower(failure_summary) LIKE '%term%'``, the ``%``/``_`` of the term taken
  literally; on PostgreSQL the GIN trigram index ``ix_operation_runs_failure_trgm`` answers it
  (when ``pg_trgm`` could be installed);
* its initiator's name — the matching users' ids are read first (one small statement on
  ``users``), then ``initiator_user_id IN (<those ids>)`` through ``ix_operation_runs_initiator``
  (no user matches: no such arm). Two reasons not to leave it a subquery: inside an ``OR``,
  PostgreSQL cannot turn ``IN (subquery)`` into a join or an index condition and tests it run
  by run; and with the ids unknown at planning time it guesses how many runs they started from
  the column's statistics — where one user started most runs, "all of them", so it reads every
  run in the list's order even when the failure text matches none (0.8 s at 1,000,000 runs).
  Past ``MAX_INITIATORS`` matching users the term is so broad that the subquery is kept;
* its type's label — matched here in Python against the registry (labels are not in the
  database): ``type IN (<types whose label or name matches>)``;
* a bare number — also the run with that id.

Case is folded with Python's ``str.lower`` semantics on both backends: PostgreSQL's ``lower()``
folds every letter, SQLite's only ASCII ones, so on SQLite the clause calls ``console_lower``
(registered on every connection by ``console.db.make_engine``)."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import ColumnElement, String, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from console.accounts.models import User
from console.db import SQLITE_LOWER
from console.operations import registry
from console.operations.models import OperationRun

#: Longest id a search term is read as (beyond it, it is only text).
_MAX_ID_DIGITS: Final = 18


class folded(FunctionElement[str]):  # noqa: N801 - used like func.lower
    """``lower(x)`` that folds every letter on both backends (see the module's docstring)."""

    type = String()
    inherit_cache = True
    name = "folded"


@compiles(folded)
def _folded(element: folded, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(folded, "sqlite")
def _folded_sqlite(element: folded, compiler: Any, **kw: Any) -> str:
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"


#: More users than this matching a term: the initiator arm stays a subquery (see the docstring).
MAX_INITIATORS: Final = 500


def _initiator_clause(needle: str, *, session: Session) -> ColumnElement[bool] | None:
    """``initiator_user_id IN (<users whose name contains needle>)``; None when no user's does."""
    named = select(User.id).where(folded(User.name).contains(needle, autoescape=True))
    ids = list(session.scalars(named.order_by(User.id).limit(MAX_INITIATORS + 1)))
    if not ids:
        return None
    return OperationRun.initiator_user_id.in_(named if len(ids) > MAX_INITIATORS else ids)


def _run_id(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= _MAX_ID_DIGITS else None


def matching_types(needle: str) -> list[str]:
    """The registered types whose label or name contains ``needle`` (already lower-cased)."""
    return [spec.type for spec in registry.specs() if needle in spec.label.lower() or needle in spec.type]


def search_clause(q: str, *, session: Session) -> ColumnElement[bool]:
    """Free text over run id, type label, initiator name and failure text: one clause of the list's
    statement (only runs the visibility filter already admits can match), built after at most one
    read of the users whose name matches."""
    text = q.strip()
    if text.startswith("#") and (ref := _run_id(text[1:])) is not None:
        # "#123" names a run: that run only (an index lookup, not a search of every failure text).
        return OperationRun.id == ref
    needle = text.lower()
    matches: list[ColumnElement[bool]] = [
        folded(OperationRun.failure_summary).contains(needle, autoescape=True),
    ]
    if (initiators := _initiator_clause(needle, session=session)) is not None:
        matches.append(initiators)
    if (number := _run_id(text.removeprefix("#"))) is not None:
        matches.append(OperationRun.id == number)
    if types := matching_types(needle):
        matches.append(OperationRun.type.in_(types))
    return or_(*matches)
