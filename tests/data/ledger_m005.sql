-- A ledger as voucherbot made it before its migrations became functions: schema m005, every
-- migration applied, a finished batch and one left 'submitting', dumped with iterdump(). Its
-- secret is "ab" * 32. Never edit it: test_ledger.py checks that later versions open it
-- unchanged, and that a new ledger has the very same schema.
BEGIN TRANSACTION;
CREATE TABLE _voucherbot_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL);
INSERT INTO "_voucherbot_migrations" VALUES('m001_initial','2026-04-01T00:00:00.000+00:00');
INSERT INTO "_voucherbot_migrations" VALUES('m002_ledger_id','2026-04-01T00:00:00.000+00:00');
INSERT INTO "_voucherbot_migrations" VALUES('m003_batch_parts','2026-04-01T00:00:00.000+00:00');
INSERT INTO "_voucherbot_migrations" VALUES('m004_drop_codes_by_batch','2026-04-01T00:00:00.000+00:00');
INSERT INTO "_voucherbot_migrations" VALUES('m005_posted_and_finished','2026-04-01T00:00:00.000+00:00');
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
        , part_of INTEGER REFERENCES batches(id), posted_at TEXT, import_finished_at TEXT);
INSERT INTO "batches" VALUES(1,1,'s1','Welcome',2,'{"alphabet": "23456789ABCDEFGHJKMNPQRSTUVWXYZ", "check": true, "length": 10, "pattern": null, "prefix": "", "suffix": ""}','finished','imp1','finished',2,2,0,NULL,NULL,NULL,'2026-05-01T12:00:00.500+00:00','2026-05-01T12:00:01.000+00:00','2026-05-01T12:00:10.000+00:00',NULL,'2026-05-01T12:00:02.000+00:00','2026-05-01T12:00:09.000+00:00');
INSERT INTO "batches" VALUES(2,1,'s2','Cart',1,'pool','submitting',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,'2026-05-01T12:00:00.500+00:00','2026-05-01T12:00:03.000+00:00',NULL,NULL,NULL,NULL);
CREATE TABLE codes (
            fingerprint BLOB PRIMARY KEY,
            batch_id INTEGER NOT NULL REFERENCES batches(id),
            state TEXT NOT NULL DEFAULT 'issued'
        ) WITHOUT ROWID;
INSERT INTO "codes" VALUES(X'0256DB2F6390E2E8778D2BDF88B820E4',1,'issued');
INSERT INTO "codes" VALUES(X'6F2675A77080C2EC91606DF4239489C7',2,'issued');
INSERT INTO "codes" VALUES(X'CBBD119A0188DFFDC9AF4D500328FE87',1,'issued');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('ledger_id','abcdef012345');
INSERT INTO "meta" VALUES('secret_check','e5c0bc260167810ec3980d7c');
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
        );
INSERT INTO "runs" VALUES(1,'run','2026-05-01T12:00:00.000+00:00','2026-05-01T12:00:11.000+00:00','failed','cafe',4242,'cron-1','{"requests": 3}');
CREATE TABLE snapshots (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            coupon_set_id TEXT NOT NULL,
            taken_at TEXT NOT NULL,
            available INTEGER,
            assigned INTEGER NOT NULL,
            quantity INTEGER,
            PRIMARY KEY (coupon_set_id, run_id)
        );
INSERT INTO "snapshots" VALUES(1,'s1','2026-05-01T12:00:00.000+00:00',10,40,50);
CREATE INDEX batches_by_set ON batches(coupon_set_id, id);
CREATE INDEX open_batches_by_set ON batches(coupon_set_id, status);
COMMIT;
