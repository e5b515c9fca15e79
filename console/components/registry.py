"""Registers every component's callbacks on one app (explicitly: no global dash.callback,
so each test's fresh app gets exactly its own callbacks)."""

from __future__ import annotations

import dash


def register_all(app: dash.Dash) -> None:
    # operations list, tenant dashboard (review pack card, operation buttons)
    from console.components import operation_buttons, operations_table, review_pack_card, tenant_dashboard

    operations_table.register_callbacks(app)
    tenant_dashboard.register_callbacks(app)
    review_pack_card.register_callbacks(app)
    operation_buttons.register_callbacks(app)

    # run viewer, activity shell, notifications bell
    from console.components import activity_shell, notifications, run_viewer

    run_viewer.register_callbacks(app)
    from console.components import account_tokens

    account_tokens.register_callbacks(app)
    activity_shell.register_callbacks(app)
    notifications.register_callbacks(app)
