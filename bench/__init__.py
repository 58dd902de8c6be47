"""What flask-idempotency costs, measured side by side with a bare view: ``make bench``.

Not a test: timings belong here, where a run prints them, never in the test suite.
"""
