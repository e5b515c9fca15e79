"""The review pack card's "Generating" is true the moment the run is: the worker moves the pack
queued -> generating in the very transaction that moves its run queued -> running, so no reader
ever finds the run running and its pack still queued (issue #14: the card stayed "Queued")."""

from __future__ import annotations

from sqlalchemy import event, select

from console.db import Database
from console.operations.models import OperationRun
from console.providers.builtin import BuiltinProvider
from console.review_packs.generate import generate_review_pack
from console.review_packs.models import ReviewPack
from tests.integration.test_writers_provider_calls import _enqueue, _tenant


def test_the_pack_is_generating_in_the_same_commit_that_makes_its_run_running(database: Database, tmp_path) -> None:
    run_id = _enqueue(database, _tenant(database), "review_pack_generate")
    seen: list[tuple[str, str]] = []

    def after_commit(_session) -> None:
        # What any other reader (a card's poll) finds after each of the worker's commits.
        with database.engine.connect() as conn:
            run_status = conn.scalar(select(OperationRun.status).where(OperationRun.id == run_id))
            pack_status = conn.scalar(select(ReviewPack.status).where(ReviewPack.operation_run_id == run_id))
        seen.append((run_status, pack_status))

    with database.session() as s:
        event.listen(s, "after_commit", after_commit)
        generate_review_pack(
            session=s, run_id=run_id, provider=BuiltinProvider(session=s), instance_dir=tmp_path, ttl_days=7
        )

    assert seen[0] == ("running", "generating"), seen
    assert ("running", "queued") not in seen
    assert seen[-1] == ("completed", "ready")
