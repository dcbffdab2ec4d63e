"""A real PostgreSQL server on 127.0.0.1 for the tests of studies shared across nodes: the
installed server's ``initdb`` and ``pg_ctl`` on a fresh cluster in a test's folder, trust
authentication, no fsync (nothing in it outlives the test).

PostgreSQL refuses to run as root. Under root (CI containers) the server runs as the
``postgres`` user (or ``nobody``), keeping only the right to read through the test's folders,
which pytest creates for root alone.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg.sql

SEARCHED = [Path(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
SERVER_USER_CANDIDATES = ("postgres", "nobody")
DATABASE_USER = "optuna"


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (PATH first, then Debian's layout)."""
    on_path = shutil.which("initdb")
    folders = ([Path(on_path).resolve().parent] if on_path else []) + SEARCHED
    return next((f for f in folders if (f / "initdb").is_file() and (f / "pg_ctl").is_file()), None)


def _as_server_user(folder: Path) -> list[str]:
    """The command prefix that runs the server as a user it accepts, owning ``folder``."""
    if os.geteuid() != 0:
        return []
    user = next(u for u in map(_user, SERVER_USER_CANDIDATES) if u is not None)
    os.chown(folder, user.pw_uid, user.pw_gid)
    return [
        "setpriv",
        f"--reuid={user.pw_uid}",
        f"--regid={user.pw_gid}",
        "--clear-groups",
        "--inh-caps=+dac_read_search",  # through root's 0700 test folders, nothing more
        "--ambient-caps=+dac_read_search",
    ]


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server; its URL."""
    with psycopg.connect(server_url.replace("postgresql://", "postgres://"), autocommit=True) as db:
        db.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@contextlib.contextmanager
def postgres_server(binaries: Path, folder: Path) -> Iterator[str]:
    """Start a server with its cluster in ``folder``; yield its URL; stop it."""
    data = folder / "data"
    data.mkdir()
    prefix = _as_server_user(data)
    log = folder / "server.log"
    if prefix:  # the server writes its log as itself
        log.touch()
        os.chown(log, data.stat().st_uid, data.stat().st_gid)
    run = [*prefix, str(binaries / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*prefix, str(binaries / "initdb"), "-D", str(data), "-U", DATABASE_USER]
        + ["--auth=trust", "--encoding=UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = f"-h 127.0.0.1 -p {port} -c unix_socket_directories='' -c fsync=off"
    subprocess.run(
        [*run, "-l", str(log), "-o", options, "-w", "start"], check=True, capture_output=True
    )
    try:
        yield f"postgresql://{DATABASE_USER}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run, "-m", "immediate", "-w", "stop"], capture_output=True)
