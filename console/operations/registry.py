"""The operation-type registry: one entry per type, everything else derives from it.

Access (the capability that starts a type, and will cancel and retry it), launch (option
validation, the Celery task, the artefact a start creates), the dashboard buttons and their
confirm text, the progress family, the run viewer's fan-out section, the seed's history and
every label read this registry. Adding a type is one ``register(OperationSpec(...))`` call,
its domain service and its task (docs/architecture.md, "Adding an operation type").

Hooks that live in domain packages are named by dotted path (``"package.module:function"``)
and imported on first use, so this module imports nothing of the domains and every domain
may import it (the same reason Celery names tasks by string)."""

from __future__ import annotations

import pkgutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from console.db import MAX_ID
from console.errors import BadRequest, UnknownOperationType

Progress = Literal["counted", "phased", "none"]

#: The built-in types' names (use these, never the string, outside this module).
INVENTORY_SYNC: Final = "inventory_sync"
REVIEW_PACK_GENERATE: Final = "review_pack_generate"
EVIDENCE_SNAPSHOT_GENERATE: Final = "evidence_snapshot_generate"
BACKUP_SET_ADD_POLICIES: Final = "backup_set_add_policies"
BACKUP_SET_RESTORE: Final = "backup_set_restore"
BASELINE_CAPTURE: Final = "baseline_capture"
BASELINE_COMPARE: Final = "baseline_compare"


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Option:
    """One option a type accepts: its kind decides parsing (``flag``, ``id``, ``id_list``);
    ``check`` (a dotted path) may refuse a parsed value with BadRequest (e.g. a backup set of
    another tenant): called as ``check(session=..., tenant_id=..., value=...)``."""

    name: str
    kind: Literal["flag", "id", "id_list"]
    default: Any = None
    check: str | None = None


def _flag(name: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"option {name} must be true or false")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"option {name} must be a positive whole number")
    if isinstance(value, int) and 0 < value <= MAX_ID:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18 and 0 < int(value) <= MAX_ID:
        return int(value)
    raise BadRequest(f"option {name} must be a positive whole number")


def _id_list(name: str, value: Any) -> list[int]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise BadRequest(f"option {name} must be a comma-separated list of ids")
    return sorted({_positive_int(name, str(i).strip()) for i in items})


# --------------------------------------------------------------------------- the entry


@dataclass(frozen=True)
class OperationSpec:
    """Everything the console knows about one operation type."""

    type: str
    label: str
    #: ``counted``: writes ``total`` once and ``processed`` once per unit (a bar when trusted);
    #: ``phased``: indeterminate, labelled by ``context.phase``; ``none``: indeterminate.
    progress: Progress
    #: Starting the type needs this tenant capability (cancel and retry will too).
    capability: str
    #: The Celery task (by name: the web process never imports task code).
    task: str
    #: One sentence for the button's title and the confirm modal.
    description: str
    #: Offered as an ``op-start-<type>`` button on the tenant dashboard (the review pack has its card).
    button: bool = True
    #: The run's units are executed by child tasks (the run viewer lists its units).
    fans_out: bool = False
    options: tuple[Option, ...] = ()
    #: ``prepare(session=, run_id=, tenant_id=, options=)`` after the run is enqueued: creates the
    #: artefact the run will fill (e.g. the review pack row) and returns it (with an ``id``).
    prepare: str | None = None
    #: ``on_fail(session=, run_id=, reason=)`` stages the family's own failure changes (the pack
    #: ``failed``, the snapshot ``failed``) without committing, whenever the run fails.
    on_fail: str | None = None
    #: A retry of a counted run does only the units without a succeeded ledger entry in the old
    #: run (False: a retry runs the operation again in full, e.g. a review pack is one archive).
    retry_units: bool = True
    #: Relative share of the demo history (``console seed-demo``).
    seed_weight: int = 1
    #: What a counted run that completed with ``total`` 0 says (the family's own words, e.g.
    #: "Nothing to restore: the backup set has no items"); None: a generic sentence.
    nothing_to_do: str | None = None
    #: ``unit_labels(session=, tenant_id=, keys=)`` -> {unit_key: display name} for the keys it
    #: knows (the run viewer's unit table: "Policy 'Baseline – Windows'" instead of ``item:17``).
    unit_labels: str | None = None
    #: Phased types: ``context.phase`` keys (what the task writes) -> the words the pages show.
    phases: Mapping[str, str] = field(default_factory=dict)

    def validate_options(self, *, session: Any, tenant_id: int, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """The options typed and checked; unknown keys or bad values are BadRequest."""
        given = dict(options or {})
        declared = {o.name: o for o in self.options}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise BadRequest(f"unknown option(s) for {self.type}: {', '.join(unknown)}")
        clean: dict[str, Any] = {}
        for option in self.options:
            raw = given.get(option.name)
            if option.kind == "flag":
                clean[option.name] = _flag(option.name, raw, bool(option.default))
                continue
            if raw is None:
                continue
            value: Any = _positive_int(option.name, raw) if option.kind == "id" else _id_list(option.name, raw)
            if option.check:
                hook(option.check)(session=session, tenant_id=tenant_id, value=value)
            clean[option.name] = value
        return clean


def hook(path: str) -> Callable[..., Any]:
    """The function a dotted path names (``"pkg.module:function"``)."""
    return pkgutil.resolve_name(path)


# --------------------------------------------------------------------------- the registry

_SPECS: dict[str, OperationSpec] = {}
_TASKS: dict[str, str] = {}
#: type -> Celery task name, live (a read-only view of the registry).
TASK_NAMES: Mapping[str, str] = MappingProxyType(_TASKS)


def register(spec: OperationSpec) -> OperationSpec:
    """Add a type (its name must be new)."""
    if spec.type in _SPECS:
        raise ValueError(f"operation type {spec.type!r} is already registered")
    _SPECS[spec.type] = spec
    _TASKS[spec.type] = spec.task
    return spec


def unregister(type_: str) -> None:
    """Remove a type (tests register throw-away types)."""
    _SPECS.pop(type_, None)
    _TASKS.pop(type_, None)


@contextmanager
def registered(spec: OperationSpec) -> Iterator[OperationSpec]:
    """``spec`` registered for the block."""
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.type)


def find(type_: object) -> OperationSpec | None:
    """The entry of ``type_``, or None for a type this version does not know."""
    return _SPECS.get(type_) if isinstance(type_, str) else None


def get(type_: object) -> OperationSpec:
    """The entry of ``type_``; UnknownOperationType otherwise."""
    spec = find(type_)
    if spec is None:
        raise UnknownOperationType(f"unknown operation type {type_!r}")
    return spec


def clean_up_failed(type_: object, *, session: Any, run_id: int, reason: str) -> None:
    """Stage the type's ``on_fail`` clean-up for a run that failed or was cancelled (no-op without one)."""
    spec = find(type_)
    if spec is not None and spec.on_fail:
        hook(spec.on_fail)(session=session, run_id=run_id, reason=reason)


def specs() -> tuple[OperationSpec, ...]:
    """Every entry, in registration (display) order."""
    return tuple(_SPECS.values())


def types() -> tuple[str, ...]:
    return tuple(_SPECS)


def is_counted(type_: object) -> bool:
    spec = find(type_)
    return spec is not None and spec.progress == "counted"


def unit_labels(type_: object, *, session: Any, tenant_id: int | None, keys: list[str]) -> dict[str, str]:
    """Display names of a run's units (the type's ``unit_labels`` hook); {} without one."""
    spec = find(type_)
    if spec is None or spec.unit_labels is None or not keys:
        return {}
    return hook(spec.unit_labels)(session=session, tenant_id=tenant_id, keys=keys)


def phase_words(type_: object, phase: str) -> str:
    """What the pages call ``phase`` of this type: its registered words, else the text as a
    sentence (first letter upper-case; a key like ``collecting`` never shows as such)."""
    spec = find(type_)
    words = spec.phases.get(phase) if spec is not None else None
    return words if words is not None else phase[:1].upper() + phase[1:]


def is_phased(type_: object) -> bool:
    spec = find(type_)
    return spec is not None and spec.progress == "phased"


def fans_out(type_: object) -> bool:
    spec = find(type_)
    return spec is not None and spec.fans_out


def type_label(type_: object) -> str:
    """The human label of a type; a type this version does not know gets a readable fallback."""
    spec = find(type_)
    if spec is not None:
        return spec.label
    text = str(type_).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else "Operation"


#: A counted run with nothing to do, for a type without its own sentence.
NOTHING_TO_DO: Final = "Nothing to do: there were no items."


def nothing_to_do(type_: object) -> str:
    """The sentence of a counted run that completed with ``total`` 0."""
    spec = find(type_)
    return (spec.nothing_to_do if spec is not None else None) or NOTHING_TO_DO


def capabilities() -> dict[str, str]:
    """type -> the capability that starts it."""
    return {s.type: s.capability for s in _SPECS.values()}


# --------------------------------------------------------------------------- built-in types

_BACKUP_SET = Option("backup_set_id", "id", check="console.backups.service:check_backup_set_option")

for _spec in (
    OperationSpec(
        type=INVENTORY_SYNC,
        label="Inventory sync",
        progress="counted",
        capability="inventory.sync",
        task="tasks.inventory.run_inventory_sync",
        description="Read every policy from the provider and update the tenant's inventory.",
        seed_weight=1,
        nothing_to_do="Nothing to sync: the provider reported no policies.",
        unit_labels="console.inventory.service:unit_labels",
    ),
    OperationSpec(
        type=REVIEW_PACK_GENERATE,
        label="Review pack generation",
        progress="counted",
        capability="review_pack.generate",
        task="tasks.review_packs.generate_review_pack",
        description="Generate a review pack ZIP of the tenant's configuration and recent operations.",
        button=False,
        retry_units=False,
        options=(Option("include_operations", "flag", True), Option("include_pii", "flag", False)),
        prepare="console.review_packs.service:ensure_pack_for_run",
        on_fail="console.review_packs.service:fail_pack_for_run",
        nothing_to_do="Nothing to pack: the tenant has no items to include.",
        unit_labels="console.review_packs.generate:unit_labels",
    ),
    OperationSpec(
        type=EVIDENCE_SNAPSHOT_GENERATE,
        label="Evidence snapshot",
        progress="counted",
        capability="evidence.generate",
        task="tasks.evidence.generate_evidence_snapshot",
        description="Capture an evidence snapshot of the tenant's current configuration.",
        on_fail="console.evidence.service:fail_snapshot_for_run",
        nothing_to_do="Nothing to capture: the tenant has no configuration items.",
        unit_labels="console.evidence.service:unit_labels",
    ),
    OperationSpec(
        type=BACKUP_SET_ADD_POLICIES,
        label="Backup policies",
        progress="counted",
        capability="backup.manage",
        task="tasks.backups.add_policies_to_backup_set",
        description="Add all active policies to a new backup set.",
        options=(_BACKUP_SET, Option("policy_ids", "id_list")),
        nothing_to_do="Nothing to back up: the tenant has no active policies.",
        unit_labels="console.backups.service:add_policies_unit_labels",
    ),
    OperationSpec(
        type=BACKUP_SET_RESTORE,
        label="Backup restore",
        progress="counted",
        capability="backup.manage",
        task="tasks.backups.restore_backup_set",
        description="Restore the tenant's latest backup set that has items.",
        fans_out=True,
        options=(_BACKUP_SET,),
        nothing_to_do="Nothing to restore: the backup set has no items.",
        unit_labels="console.backups.service:restore_unit_labels",
    ),
    OperationSpec(
        type=BASELINE_CAPTURE,
        label="Baseline capture",
        progress="phased",
        capability="baseline.manage",
        task="tasks.baselines.capture_baseline",
        description="Capture a new configuration baseline.",
        phases={
            "collecting": "Collecting policies",
            "normalizing": "Normalizing settings",
            "storing": "Storing the baseline",
        },
    ),
    OperationSpec(
        type=BASELINE_COMPARE,
        label="Baseline compare",
        progress="phased",
        capability="baseline.manage",
        task="tasks.baselines.compare_baseline",
        description="Compare the current configuration with the latest baseline.",
        phases={
            "collecting": "Collecting policies",
            "normalizing": "Normalizing settings",
            "diffing": "Comparing with the baseline",
        },
    ),
):
    register(_spec)
del _spec
