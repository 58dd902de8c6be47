"""The ledger app as a WSGI module for a real server: ``gunicorn tests.served_ledger:app``."""

import os
from pathlib import Path

from tests.ledger_app import create_app

app = create_app(
    os.environ["LEDGER_DATABASE_URL"],
    Path(os.environ["LEDGER_INSTANCE_PATH"]),
    TESTING=False,
)
