"""The ledger's schema, as numbered migrations applied on every open.

Each migration is a function registered with :func:`migration`, named ``m001_...``,
``m002_...`` in the order it is applied. :func:`migrate` applies the ones a ledger lacks, each
in its own transaction with its record in ``_voucherbot_migrations``. Once released, a
migration is never edited: a change is a new one. Migrations spell statuses as the text the
ledger stores (not as :class:`~voucherbot.ledger.records.BatchStatus`), since what they did
must not change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from voucherbot.errors import ConfigError
from voucherbot.ledger import segments
from voucherbot.ledger.records import now_text
from voucherbot.ledger.sql import transaction


class Migration(NamedTuple):
    name: str
    apply: Callable[[sqlite3.Connection], None]


#: Every migration, in the order it is applied.
MIGRATIONS: list[Migration] = []


def migration(
    function: Callable[[sqlite3.Connection], None],
) -> Callable[[sqlite3.Connection], None]:
    """Register ``function`` as the next migration; its name must carry the next number."""
    number = f"m{len(MIGRATIONS) + 1:03d}_"
    if not function.__name__.startswith(number):
        raise ValueError(f"migration {function.__name__} is not named {number}...")
    MIGRATIONS.append(Migration(function.__name__, function))
    return function


def migrate(db: sqlite3.Connection, *, readonly: bool, path: Path | None) -> None:
    """Apply, in order, each migration the ledger has not had. A read-only ledger that
    lacks one is refused (with ConfigError): only a writer migrates."""
    if not readonly:
        db.execute(
            "CREATE TABLE IF NOT EXISTS _voucherbot_migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    applied = {row[0] for row in db.execute("SELECT name FROM _voucherbot_migrations")}
    for step in MIGRATIONS:
        if step.name in applied:
            continue
        if readonly:
            raise ConfigError(
                f"{path}: the ledger needs migration {step.name}; run "
                "'voucherbot run' or 'voucherbot refill' once to apply it"
            )
        with transaction(db):
            step.apply(db)
            db.execute("INSERT INTO _voucherbot_migrations VALUES (?, ?)", (step.name, now_text()))


# The statements keep the text (indentation included) they had when the schema was one SQL
# script: SQLite stores a CREATE statement as written, so a new ledger's schema is the same,
# byte for byte, as one an earlier version made.


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            command TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT,
            config_hash TEXT NOT NULL DEFAULT '',
            pid INTEGER,
            host TEXT,
            stats TEXT
        )""")
    db.execute("""
        CREATE TABLE batches (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs(id),
            coupon_set_id TEXT NOT NULL,
            coupon_set_name TEXT NOT NULL DEFAULT '',
            count INTEGER NOT NULL,
            shape TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            import_id TEXT UNIQUE,
            import_status TEXT,
            total INTEGER,
            success INTEGER,
            errors INTEGER,
            rejected INTEGER,
            error_report_url TEXT,
            error TEXT,
            created_at TEXT NOT NULL,
            submitted_at TEXT,
            settled_at TEXT
        )""")
    db.execute("CREATE INDEX batches_by_set ON batches(coupon_set_id, id)")
    db.execute("""
        CREATE UNIQUE INDEX one_open_batch_per_set ON batches(coupon_set_id)
            WHERE status IN ('prepared', 'delivering', 'delivered', 'submitting', 'submitted')""")
    db.execute("""
        CREATE TABLE codes (
            fingerprint BLOB PRIMARY KEY,
            batch_id INTEGER NOT NULL REFERENCES batches(id),
            state TEXT NOT NULL DEFAULT 'issued'
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX codes_by_batch ON codes(batch_id)")
    db.execute("""
        CREATE TABLE snapshots (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            coupon_set_id TEXT NOT NULL,
            taken_at TEXT NOT NULL,
            available INTEGER,
            assigned INTEGER NOT NULL,
            quantity INTEGER,
            PRIMARY KEY (coupon_set_id, run_id)
        )""")


@migration
def m002_ledger_id(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('ledger_id', lower(hex(randomblob(6))))")


@migration
def m003_batch_parts(db: sqlite3.Connection) -> None:
    """A refill too big for one import file is split into parts, one import each; the parts
    of one refill may be open together (new_batch enforces one refill per set)."""
    db.execute("ALTER TABLE batches ADD COLUMN part_of INTEGER REFERENCES batches(id)")
    db.execute("DROP INDEX one_open_batch_per_set")
    db.execute("CREATE INDEX open_batches_by_set ON batches(coupon_set_id, status)")


@migration
def m004_drop_codes_by_batch(db: sqlite3.Connection) -> None:
    """Nothing looks codes up by batch (rejected codes are found by fingerprint), and the
    index made every insert of a big batch twice as slow."""
    db.execute("DROP INDEX codes_by_batch")


@migration
def m005_posted_and_finished(db: sqlite3.Connection) -> None:
    """posted_at: when the upload's first byte went out (a batch 'submitting' without it
    never reached Connectif); import_finished_at: when its import ended, by Connectif's
    clock (the set's counters may trail it). A batch an earlier version left 'submitting'
    may have been uploaded: it is looked up, not abandoned."""
    db.execute("ALTER TABLE batches ADD COLUMN posted_at TEXT")
    db.execute("ALTER TABLE batches ADD COLUMN import_finished_at TEXT")
    db.execute("""
        UPDATE batches SET posted_at = COALESCE(submitted_at, created_at)
            WHERE status = 'submitting'""")


@migration
def m006_code_segments(db: sqlite3.Connection) -> None:
    """The fingerprints move from one table into sorted segments (see ledger.segments): the
    old ``codes`` table becomes the first segment, its rejected codes go to
    ``rejected_codes``, and ``codes`` becomes a view of every segment. From here on codes are
    fingerprinted case-insensitively; the old fingerprints were made of codes as written, so
    the first segment is ``legacy`` (probed in the cases a code can take)."""
    db.execute("""
        CREATE TABLE code_segments (
            id INTEGER PRIMARY KEY,
            rows INTEGER NOT NULL,
            batch_id INTEGER,
            legacy INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("""
        CREATE TABLE rejected_codes (
            fingerprint BLOB PRIMARY KEY,
            batch_id INTEGER NOT NULL
        ) WITHOUT ROWID""")
    db.execute("""
        INSERT INTO rejected_codes SELECT fingerprint, batch_id FROM codes
            WHERE state = 'rejected'""")
    rows = db.execute("SELECT COUNT(*) FROM codes").fetchone()[0]
    if rows:
        db.execute(
            "INSERT INTO code_segments (id, rows, batch_id, legacy) VALUES (1, ?, NULL, 1)",
            (rows,),
        )
        db.execute("""
        CREATE TABLE codes_1 (
            fingerprint BLOB PRIMARY KEY,
            batch_id INTEGER NOT NULL
        ) WITHOUT ROWID""")
        db.execute("INSERT INTO codes_1 SELECT fingerprint, batch_id FROM codes")
    db.execute("DROP TABLE codes")
    segments.rebuild_view(db)


@migration
def m007_shop_refused(db: sqlite3.Connection) -> None:
    """Codes the shop refused (a native connector says which): never imported, never issued
    again, and replaced within the same refill."""
    db.execute("""
        CREATE TABLE shop_refused (
            fingerprint BLOB PRIMARY KEY,
            batch_id INTEGER NOT NULL,
            reason TEXT NOT NULL
        ) WITHOUT ROWID""")


@migration
def m008_shop_jobs(db: sqlite3.Connection) -> None:
    """The shop's job for each part of a batch (Shopify's bulk creations), so that a run cut
    off mid-delivery follows the job it started instead of adding the codes again."""
    db.execute("""
        CREATE TABLE shop_jobs (
            batch_id INTEGER NOT NULL,
            part TEXT NOT NULL,
            job_id TEXT NOT NULL,
            PRIMARY KEY (batch_id, part)
        )""")


@migration
def m009_alerts(db: sqlite3.Connection) -> None:
    """The day each set was last warned of (``[notify] empty_within``): once a set a day."""
    db.execute("""
        CREATE TABLE alerts (
            coupon_set_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            day TEXT NOT NULL,
            PRIMARY KEY (coupon_set_id, kind)
        ) WITHOUT ROWID""")


@migration
def m010_segment_filters(db: sqlite3.Connection) -> None:
    """Filters in front of the segments of fingerprints (see ledger.filters): a bitmap that
    proves most fingerprints absent, so that a refill looks few of them up. A batch's segment
    has a small one of its own until it is filed in its tier's filter. Segments made before
    are filed one at a time while runs wait for their imports; until then they are looked up
    in full, as before."""
    db.execute("""
        CREATE TABLE segment_filters (
            segment_id INTEGER PRIMARY KEY,
            power INTEGER NOT NULL,
            hashes INTEGER NOT NULL,
            bits BLOB NOT NULL
        )""")
    db.execute("""
        CREATE TABLE tier_filters (
            tier INTEGER PRIMARY KEY,
            power INTEGER NOT NULL,
            hashes INTEGER NOT NULL,
            bits BLOB NOT NULL
        )""")
    db.execute("ALTER TABLE code_segments ADD COLUMN filed_in INTEGER")  # the tier, once filed
