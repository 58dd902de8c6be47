"""The ``store`` blueprint, under ``/store`` as Medusa's store API; its views live in the
modules beside this one, one resource each."""

from flask import Blueprint

store = Blueprint("store", __name__, url_prefix="/store")
