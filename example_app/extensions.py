"""The storefront's extension objects, bound to the app in ``create_app``."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from flask_idempotency import Idempotency

db = SQLAlchemy()
migrate = Migrate()
idempotency = Idempotency(db=db)
