"""Per-cluster storage: SQLAlchemy models, engines, Alembic migrations."""
