"""The WSGI module gunicorn serves: the app, with what it holds for life out of the garbage collector's reach."""

from __future__ import annotations

import gc
import importlib
import sys

from flask import Flask


def test_the_wsgi_module_builds_the_app_and_freezes_what_it_holds_for_life(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite:///{tmp_path / 'portal.db'}")
    monkeypatch.setenv("PORTAL_SCHEDULER", "0")
    monkeypatch.delitem(sys.modules, "portal.wsgi", raising=False)
    gc.unfreeze()
    try:
        wsgi = importlib.import_module("portal.wsgi")
        assert isinstance(wsgi.app, Flask)
        assert gc.get_freeze_count() > 10_000
        gc.collect()
        assert gc.get_freeze_count() > 10_000  # a full collection leaves them be
    finally:
        gc.unfreeze()
        sys.modules.pop("portal.wsgi", None)
