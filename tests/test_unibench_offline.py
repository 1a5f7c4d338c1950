"""Offline fallback of the emotion-wheel resources: a verified copy beside the checkout when no download is possible."""

from __future__ import annotations

import pytest
from utils import WHEEL_DIR

from affectgpt_hf.unibench import resources

pytestmark = pytest.mark.timeout(60)


def test_download_failure_falls_back_to_the_checkout_copy(monkeypatch):
    monkeypatch.delenv(resources.ENV_WHEEL_DIR, raising=False)

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(resources, "download_wheel_files", offline)
    assert resources.resolve_wheel_dir().resolve() == WHEEL_DIR.resolve()
    monkeypatch.setattr(resources, "_checkout_copy", lambda: None)
    with pytest.raises(OSError, match="MER_UNIBENCH_WHEEL_DIR"):
        resources.resolve_wheel_dir()
