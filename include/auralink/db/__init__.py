"""Database access: connection resolution (DATABASE_URL or the embedded server) and migrations."""

from auralink.db.connection import connect, database_url, libpq_params, scalar, sqlalchemy_url, transaction

__all__ = ["connect", "database_url", "libpq_params", "scalar", "sqlalchemy_url", "transaction"]
