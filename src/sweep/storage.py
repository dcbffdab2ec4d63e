"""Where a local study lives: an Optuna storage from the ``--storage`` argument.

SQLite (the default, one machine), a database server (PostgreSQL, MySQL: workers on several
nodes share it) or ``journal:PATH``, Optuna's append-only journal file, for clusters that have a
shared filesystem but no database server (SQLite's locking is not safe over NFS; the journal's
is). A database URL whose Python driver is not installed is refused before anything runs, with
the package to install, instead of Optuna's "Failed to import DB access module".
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import sqlalchemy
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

JOURNAL_PREFIX = "journal:"
SQLITE_BUSY_S = 60.0  # how long a worker waits for another's SQLite transaction
SCHEMA_RACE_ATTEMPTS = 3
# what to install for a database's default driver, by the URL's dialect (the part before `+`)
DRIVER_PACKAGES = {
    "postgresql": 'pip install -e ".[postgres]"  (psycopg 3)',
    "mysql": "pip install mysqlclient  (or name PyMySQL's driver: mysql+pymysql://, pip install pymysql)",
}


class StorageError(ValueError):
    """``--storage`` names something that cannot hold a study here."""


def open_storage(url: str) -> BaseStorage:
    """The storage ``url`` names: ``journal:PATH`` or an SQLAlchemy database URL."""
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url[len(JOURNAL_PREFIX) :]).expanduser()
        if not path.parent.is_dir():
            raise StorageError(
                f"--storage {url}: the journal's folder {path.parent} does not exist; create it "
                "on the filesystem every worker shares"
            )
        return JournalStorage(JournalFileBackend(str(path)))
    check_driver(url)
    if url.startswith("sqlite"):
        storage = RDBStorage(url, engine_kwargs={"connect_args": {"timeout": SQLITE_BUSY_S}})
        _serialise_sqlite(storage.engine)
        return storage
    return _database_storage(url)


def _database_storage(url: str) -> RDBStorage:
    """Optuna's storage on a database server. The first connection to a new database creates
    Optuna's tables; workers started together race to do it and all but one fail on the
    duplicate, so a worker that loses that race connects again to the tables the winner made."""
    # a connection dropped by the server (idle timeout, failover) is replaced, not an error
    engine_kwargs = {"pool_pre_ping": True}
    for _ in range(SCHEMA_RACE_ATTEMPTS - 1):
        try:
            return RDBStorage(url, engine_kwargs=engine_kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            time.sleep(random.uniform(0.5, 1.5))
    return RDBStorage(url, engine_kwargs=engine_kwargs)


def _serialise_sqlite(engine: sqlalchemy.Engine) -> None:
    """Make every SQLite transaction take the write lock when it begins (BEGIN IMMEDIATE).

    Claiming a waiting trial reads its state and then writes it; a database server locks the
    row in between (SELECT ... FOR UPDATE), SQLite does not, so two workers (threads of one
    sweep, or two sweeps on one machine) could both claim the same grid cell.
    """

    @sqlalchemy.event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: object, record: object) -> None:
        dbapi_connection.isolation_level = None  # the driver's own BEGIN would be DEFERRED

    @sqlalchemy.event.listens_for(engine, "begin")
    def _begin_immediate(connection: sqlalchemy.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners were added


def check_driver(url: str) -> None:
    """Refuse a database URL whose driver does not import, naming the package to install."""
    try:
        dialect = sqlalchemy.engine.make_url(url).get_dialect()
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError) as error:
        raise StorageError(
            f"--storage {url}: not a storage URL ({error}); give sqlite:///FILE, "
            f"postgresql://USER@HOST/DB, mysql://USER@HOST/DB or {JOURNAL_PREFIX}PATH"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        backend = url.split(":", 1)[0].split("+", 1)[0]
        advice = DRIVER_PACKAGES.get(backend, "install the driver SQLAlchemy names above")
        raise StorageError(
            f"--storage {shown(url)}: the database driver is not installed ({error}); {advice}"
        ) from None


def shown(url: str) -> str:
    """``url`` without its password, for messages and the end-of-sweep summary."""
    if url.startswith(JOURNAL_PREFIX):
        return url
    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
