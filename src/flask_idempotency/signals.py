"""Signals, in Flask's style: connect a receiver to hear what happens to keys.

Each is sent by the application (``current_app._get_current_object()``) with ``key=``, the
``IdempotencyKey`` as the extension holds it at that moment (a detached snapshot; read it, do
not change it). ``stage_completed`` adds ``stage=``, the name of the stage that committed::

    from flask_idempotency.signals import request_replayed

    @request_replayed.connect_via(app)
    def count_replay(sender, key, **extra):
        metrics.increment("idempotency.replayed", tags={"path": key.request_path})

Receivers run inside the request (or the idempotent function) that sent the signal, so a slow
receiver slows it down, and an exception raised by a receiver propagates as any error in the
view would (a key being worked on is released, and a retry resumes).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A request claimed a key the database did not hold (or one that had expired).
key_created = _signals.signal("key-created")
#: A retry got the stored response of a finished request; the view did not run.
request_replayed = _signals.signal("request-replayed")
#: A retry was answered 409 because another request holds its key.
request_conflicted = _signals.signal("request-conflicted")
#: A key was sent again with a different request (method, path or params): 422.
key_mismatched = _signals.signal("key-mismatched")
#: A ``stage()`` committed its work and the key moved to that recovery point (``stage=``).
stage_completed = _signals.signal("stage-completed")
#: A request took over a key whose holder outlived the lock timeout (a dead worker).
lock_taken_over = _signals.signal("lock-taken-over")
