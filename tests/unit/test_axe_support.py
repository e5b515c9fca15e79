"""The audit's engine must be present: a missing axe-core fails the test (a skipped audit would
read as "no violations")."""

from __future__ import annotations

import pytest

from tests.support import axe


def test_a_missing_axe_engine_fails_with_the_install_command(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(axe, "AXE_PATH", tmp_path / "missing" / "axe.min.js")
    monkeypatch.setattr(axe, "_source", None)
    with pytest.raises(pytest.fail.Exception) as failed:
        axe.axe_source()
    assert "npm install --no-audit --no-fund --prefix .ci/node axe-core@4.14.1" in str(failed.value)


def test_the_pinned_engine_is_installed() -> None:
    assert f"axe v{axe.AXE_VERSION}" in axe.axe_source()[:200]
