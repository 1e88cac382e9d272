"""Live config changes: every config section has a rule for how a change applies (camapp/live.py APPLY)."""

from __future__ import annotations

from camapp.config import AppConfig
from camapp.live import APPLY


def test_every_config_section_has_an_apply_rule() -> None:
    """A new section must say whether it applies live or needs a restart, or changing it does nothing visible."""
    missing = sorted(set(AppConfig.model_fields) - set(APPLY))
    stale = sorted(set(APPLY) - set(AppConfig.model_fields))
    assert missing == [], f"add these config sections to camapp.live.APPLY: {missing}"
    assert stale == [], f"camapp.live.APPLY names sections the config no longer has: {stale}"
