"""Registers every component's callbacks on one app (explicitly: no global dash.callback,
so each test's fresh app gets exactly its own callbacks)."""
from __future__ import annotations

import dash


def register_all(app: dash.Dash) -> None:
    from console.components import operations_table

    operations_table.register_callbacks(app)
