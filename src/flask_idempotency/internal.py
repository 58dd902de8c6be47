"""How the extension marks its own statements and transaction control, so that the guards
watching a view's database work (write_guard.py, statement_privacy.py) let them through."""

from __future__ import annotations

# The execution option on every statement the extension sends itself.
INTERNAL_OPTION = "flask_idempotency_internal"
INTERNAL = {INTERNAL_OPTION: True}
# Set in ``session.info`` while the extension itself commits or rolls back, so that the guard
# refusing a view's own commit() or rollback() (see write_guard.py) lets the extension's through.
TRANSACTION_CONTROL_INFO = "flask_idempotency.controls_transaction"
