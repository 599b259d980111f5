"""Shared test fixtures: sample export locations and a fresh case."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
FORMATS = FIXTURES / "formats"
SHARED_FORMATS = ROOT.parent / "shared" / "formats"


@pytest.fixture
def formats_dir() -> Path:
    """Licensed sample exports copied into the project."""
    return FORMATS


@pytest.fixture
def shared_formats() -> Path:
    """../shared/formats beside the checkout (samples we may read but not ship)."""
    if not SHARED_FORMATS.is_dir():
        pytest.skip("../shared/formats is not beside this checkout")
    return SHARED_FORMATS
