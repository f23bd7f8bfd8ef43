"""Piccolo's configuration module, for its migration runner and CLI.

Piccolo finds the engine as the `DB` attribute of this module (via `PICCOLO_CONF`). It is
computed on access (PEP 562), not at import: the engine `definewtf.db.use_for_migrations()`
set, else one built from `DATABASE_URL` when the Piccolo CLI asks.
"""

from __future__ import annotations

from typing import Any

from piccolo.conf.apps import AppRegistry

from definewtf.db import current_engine_or_none, engine_from_url
from definewtf.settings import Settings

APP_REGISTRY = AppRegistry(apps=["definewtf.piccolo_app"])


def __getattr__(name: str) -> Any:
    if name == "DB":
        return current_engine_or_none() or engine_from_url(Settings.from_env().database_url)
    raise AttributeError(name)
