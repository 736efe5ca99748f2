"""API tokens: issue, resolve, list and revoke. Only a token's SHA-256 is stored; the token is shown once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from portal.auth.models import User
from portal.database import entity_columns, loaded, rows
from portal.extensions import db
from portal.types import utcnow
from portal.workorders.models import ApiToken

TOKEN_PREFIX = "pt_"
SHOWN_PREFIX_LENGTH = 10
TOUCH_EVERY = timedelta(minutes=5)


def digest(raw: str) -> str:
    """The SHA-256 (hex) under which a token is stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


def issue(user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for ``user`` (added to the session, not committed) and the token itself, shown once."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=(name or "").strip()[:80], prefix=raw[:SHOWN_PREFIX_LENGTH],
                     token_hash=digest(raw))
    db.session.add(token)
    db.session.flush()
    return token, raw


@lru_cache(maxsize=1)
def live_token_select():
    """The token's columns then its user's, for a token hash, when not revoked and the user is active (built
    once: composing a statement and working out its cache key cost more than running it)."""
    return (select(*entity_columns(ApiToken), *entity_columns(User)).join(User, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None),
                   User.active.is_(True)))


def resolve(raw: str) -> ApiToken | None:
    """The live token for a presented string (its user loaded with it): known, not revoked, its user active;
    else None. Every API request asks: the two entities are made from the row (``database.loaded``), which
    costs about half of the ORM's loading them."""
    found = rows(live_token_select(), {"token_hash": digest(raw)})
    if not found:
        return None
    split = len(entity_columns(ApiToken))
    token, user = loaded(ApiToken, found[0][:split]), loaded(User, found[0][split:])
    set_committed_value(token, "user", user)
    return token


def touch(token: ApiToken, now: datetime | None = None) -> None:
    """Record that a token was used, at most every few minutes (one small UPDATE, committed)."""
    now = now or utcnow()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.id == token.id)
        .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOUCH_EVERY))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def tokens_of(user: User) -> list[ApiToken]:
    """A user's tokens, live ones first, newest first."""
    statement = (
        select(ApiToken).where(ApiToken.user_id == user.id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
    )
    return list(db.session.scalars(statement))


def own_token(user: User, token_id: int) -> ApiToken | None:
    """One of the user's own tokens by id, or None."""
    token = db.session.get(ApiToken, token_id)
    return token if token is not None and token.user_id == user.id else None


def revoke(token: ApiToken, now: datetime | None = None) -> bool:
    """Revoke a token (not committed); False when it already was."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now or utcnow()
    return True
