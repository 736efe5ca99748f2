"""The signed-in user's API tokens: list, create (the token is shown once) and revoke."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from portal.api import tokens
from portal.auth.session import permission_required
from portal.extensions import db
from portal.web import render, wants_fragment

bp = Blueprint("tokens", __name__)

TEMPLATE = "api/tokens.html"


class TokenForm(FlaskForm):
    """Name a new token after what will use it."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)],
                       description=_l("What will use the token, e.g. “monitoring system” or “my phone”."))


def page(form: TokenForm, new_token: str | None = None, block: str | None = None):
    """The tokens page (or one of its blocks for htmx)."""
    return render(TEMPLATE, block=block, form=form, new_token=new_token,
                  tokens=tokens.tokens_of(current_user))


@bp.route("/account/tokens", methods=["GET", "POST"])
@permission_required("api.token")
def index():
    """List the user's tokens; on POST create one and show it this once."""
    form = TokenForm()
    if not form.validate_on_submit():
        return page(form)
    _token, raw = tokens.issue(current_user._get_current_object(), form.name.data)
    db.session.commit()
    return page(TokenForm(formdata=None), new_token=raw)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@permission_required("api.token")
def revoke(token_id: int):
    """Revoke one of the user's own tokens; it stops working at once."""
    token = tokens.own_token(current_user, token_id)
    if token is None:
        abort(404)
    if tokens.revoke(token):
        db.session.commit()
    if wants_fragment():
        return page(TokenForm(formdata=None), block="token_list")
    flash(_("The token %(prefix)s… is revoked.", prefix=token.prefix), "success")
    return redirect(url_for("tokens.index"))
