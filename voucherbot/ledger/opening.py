"""Opening a ledger's files: the SQLite database and its secret, or a one-line refusal.

The HMAC key of the fingerprints is a per-ledger secret kept outside the database in
``<ledger>.secret`` (mode 0600): a copy of the database alone does not reveal whether a given
code was issued. The database keeps a check value derived from the secret
(:func:`secret_check`), so a replaced or foreign secret file (which would make every
fingerprint meaningless) is refused.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import sqlite3
import stat
from pathlib import Path

from voucherbot.config import check_ledger_folder
from voucherbot.errors import ConfigError
from voucherbot.files import write_private

log = logging.getLogger("voucherbot.ledger")  # its name in logs since before the subpackages

#: What the check value kept in the database is the HMAC of (see :func:`secret_check`).
_CHECK_LABEL = b"voucherbot: this is the ledger's secret"
_SQLITE_MAGIC = b"SQLite format 3\x00"


def secret_path_of(path: Path) -> Path:
    return path.with_name(path.name + ".secret")


def prepare(path: Path, *, readonly: bool) -> None:
    """Make sure a ledger can be opened at ``path``: a reader needs one there; a writer
    creates it and its secret (mode 0600, in an existing folder) if there is none. Then
    refuse a file that is not a ledger."""
    secret_path = secret_path_of(path)
    if readonly:
        if not path.exists():
            raise ConfigError(f"{path}: no ledger yet (it is created by the first run)")
    else:
        check_ledger_folder(path)
        if not path.exists():
            _create(path, secret_path)
    _refuse_if_foreign(path)


def _create(path: Path, secret_path: Path) -> None:
    if secret_path.exists():
        raise ConfigError(
            f"{secret_path} exists but the ledger {path} does not; move the old "
            "secret away (or restore the ledger from a backup)"
        )
    try:
        write_private(secret_path, [secrets.token_hex(32)])
        write_private(path, [])
    except OSError as exc:
        secret_path.unlink(missing_ok=True)
        raise ConfigError(
            f"cannot create the ledger {path}: {exc.strerror or exc}; choose another --ledger path"
        ) from None
    log.info("created a new ledger %s and its secret %s: back both up", path, secret_path)


def read_secret(secret_path: Path) -> bytes:
    """The ledger's secret, or a ConfigError saying what is wrong with its file."""
    try:
        secret = bytes.fromhex(secret_path.read_text().strip())
    except FileNotFoundError:
        raise ConfigError(
            f"the ledger's secret file {secret_path} is missing; without it voucherbot "
            "cannot recognise the codes it issued. Restore it from a backup"
        ) from None
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{secret_path}: unreadable ledger secret ({exc})") from None
    if len(secret) < 16:
        raise ConfigError(f"{secret_path}: the ledger secret is too short")
    return secret


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """The ledger's database, in autocommit mode (transactions are explicit), with foreign
    keys checked; a writer's in WAL mode, synced on every commit."""
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    db = sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)
    configure(db)
    if not readonly:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
    return db


def configure(db: sqlite3.Connection) -> None:
    """Settings of every connection: foreign keys checked; the fingerprints being checked
    staged in memory (a chunk's worth), not in a temporary file; and pages a merge frees
    not overwritten (they hold keyed fingerprints, not codes; overwriting doubled a merge's
    writes)."""
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute("PRAGMA secure_delete = OFF")


def secret_check(secret: bytes) -> str:
    """A value the database keeps to recognise its secret (it reveals nothing of it)."""
    return hmac.digest(secret, _CHECK_LABEL, "sha256")[:12].hex()


def foreign_secret(secret_path: Path, path: Path | None) -> ConfigError:
    return ConfigError(
        f"{secret_path} is not the secret of the ledger {path}: with another "
        "secret voucherbot cannot recognise the codes it issued and could issue them "
        "again. Restore the ledger's own secret file from a backup"
    )


def not_a_ledger(path: Path) -> str | None:
    """What the file at ``path`` is when it cannot be a voucherbot ledger (a device, an
    empty file, text, another application's database), else None."""
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            return _kind(mode)
        with path.open("rb") as file:
            head = file.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if not head:
        # an empty file next to its secret is a ledger whose first open was cut short
        return None if secret_path_of(path).exists() else "an empty file"
    if head != _SQLITE_MAGIC:
        return "not an SQLite database"
    try:
        tables = _tables(path)
    except sqlite3.DatabaseError:
        return "a damaged SQLite database"
    if tables and "batches" not in tables:
        listed = ", ".join(sorted(tables)[:5])
        return f"another application's SQLite database (tables: {listed})"
    return None


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _tables(path: Path) -> set[str]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()


def _refuse_if_foreign(path: Path) -> None:
    problem = not_a_ledger(path)
    if problem:
        raise ConfigError(
            f"{path} is {problem}, not a voucherbot ledger; point --ledger "
            "(or [ledger] path, VOUCHERBOT_LEDGER) at the ledger you use"
        )


def db_error(path: Path, exc: sqlite3.DatabaseError) -> ConfigError:
    """A database error met while opening, as the one-line ConfigError it means."""
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return ConfigError(
            f"{path} is not a voucherbot ledger (not an SQLite database); "
            "point --ledger at another file"
        )
    if "readonly" in text or "read-only" in text:
        return ConfigError(f"{path}: the ledger is read-only; voucherbot must be able to write it")
    return ConfigError(f"{path}: cannot use the ledger: {text}")
