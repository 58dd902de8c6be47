"""The pytest plugin of flask-idempotency, loaded through the ``pytest11`` entry point."""
