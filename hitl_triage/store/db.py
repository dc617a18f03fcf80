"""Engines and schema upgrades of the review store.

SQLite (the default) runs in WAL mode with ``synchronous=FULL`` (an acknowledged commit
survives a crash or power loss) and every write transaction starts with ``BEGIN IMMEDIATE``,
so read-then-write steps (claiming a task, settling it) never interleave. PostgreSQL uses
row locks (``FOR UPDATE`` / ``SKIP LOCKED``) in the same steps; see ``claims.py`` and ``submissions.py``.

The schema is created and upgraded with Alembic (migrations in ``store/migrations``), run
automatically when a store is opened; a PostgreSQL advisory lock serializes concurrent upgrades.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from hitl_triage.store.errors import StoreError

SQLITE_FILE = "review.sqlite3"
MIGRATIONS = Path(__file__).parent / "migrations"
_UPGRADE_LOCK_KEY = 0x6874_7269  # arbitrary constant for pg_advisory_xact_lock


def default_sqlite_url(run_dir: Path) -> str:
    return f"sqlite:///{Path(run_dir) / SQLITE_FILE}"


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL), configured for the review store.

    Raises:
        StoreError: the URL is malformed or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"review.database_url: not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise StoreError(
                f"review.database_url: expected a SQLite file path, got {url!r} "
                "(an in-memory database would lose every answer)"
            )
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"timeout": 60, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        return create_engine(
            parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    raise StoreError(
        f"review.database_url: expected a sqlite:/// or postgresql+psycopg:// URL, got "
        f"backend {backend!r}"
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling is lazy).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        # Reads (engines with the ``hitl_read`` option) share the WAL snapshot; writes lock.
        read = conn.get_execution_options().get("hitl_read", False)
        conn.exec_driver_sql("BEGIN DEFERRED" if read else "BEGIN IMMEDIATE")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None  # the package ships at least one migration
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision`` (no-op when already there).

    Raises:
        StoreError: the database cannot be reached or the migration fails.
    """
    from alembic import command

    try:
        if revision == "head" and current_revision(engine) == head_revision():
            return
        cfg = _alembic_config()
        with engine.begin() as conn:
            if is_postgres(engine):
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _UPGRADE_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise StoreError(
            f"review store {engine.url.render_as_string(hide_password=True)}: cannot open or "
            f"upgrade the database: {exc.orig}"
        ) from None


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
