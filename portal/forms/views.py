"""Placeholder while being written."""
from flask import Blueprint

bp = Blueprint("forms", __name__)
