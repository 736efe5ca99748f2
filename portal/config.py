"""Settings read from environment variables, with safe defaults."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"


def instance_path() -> Path:
    """The folder holding the embedded database and the generated secret key."""
    return Path(os.environ.get("PORTAL_INSTANCE_PATH", DEFAULT_INSTANCE)).resolve()


def secret_key(folder: Path) -> str:
    """PORTAL_SECRET_KEY, or a key generated once and kept in the instance folder."""
    if os.environ.get("PORTAL_SECRET_KEY"):
        return os.environ["PORTAL_SECRET_KEY"]
    key_file = folder / "secret_key"
    if not key_file.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def plugin_names(raw: str | None) -> list[str] | None:
    """Parse PORTAL_PLUGINS ('a,b'); None (unset or '*') enables every installed plugin."""
    if raw is None or raw.strip() in ("", "*"):
        return None
    return [name.strip() for name in raw.split(",") if name.strip()]


def from_environment() -> dict:
    """Build the app's settings from PORTAL_* environment variables."""
    folder = instance_path()
    folder.mkdir(parents=True, exist_ok=True)
    env = os.environ.get
    return {
        "SQLALCHEMY_DATABASE_URI": env("PORTAL_DATABASE_URL", f"sqlite:///{folder / 'portal.db'}"),
        "SECRET_KEY": secret_key(folder),
        "PORTAL_PLUGINS": plugin_names(env("PORTAL_PLUGINS")),
        "PORTAL_TIMEZONE": env("PORTAL_TIMEZONE", "Asia/Shanghai"),
        "PORTAL_BASE_URL": env("PORTAL_BASE_URL", "").rstrip("/"),
        "PORTAL_SESSION_HOURS": float(env("PORTAL_SESSION_HOURS", "8")),
        "PORTAL_LOGIN_LIMIT": env("PORTAL_LOGIN_LIMIT", "5 per minute;30 per hour"),
        "RATELIMIT_STORAGE_URI": env("PORTAL_RATELIMIT_STORAGE_URL", "memory://"),
        "SESSION_COOKIE_SECURE": env("PORTAL_SECURE_COOKIES", "0") == "1",
        "PORTAL_SCHEDULER": env("PORTAL_SCHEDULER", "1") != "0",
        "PORTAL_PROXIES": int(env("PORTAL_PROXIES", "0")),
        "PORTAL_DB_PING_IDLE_SECONDS": float(env("PORTAL_DB_PING_IDLE_SECONDS", "1")),
    }


def build(overrides: dict | None = None) -> dict:
    """Final settings: fixed defaults, then the environment, then explicit overrides."""
    settings = {
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "PORTAL_LOCALES": ["zh_CN", "en"],
        "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
        "PORTAL_PAGE_SIZE": 25,
    }
    settings.update(from_environment())
    settings.update(overrides or {})
    settings["BABEL_DEFAULT_TIMEZONE"] = settings["PORTAL_TIMEZONE"]
    settings["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=settings["PORTAL_SESSION_HOURS"])
    return settings
