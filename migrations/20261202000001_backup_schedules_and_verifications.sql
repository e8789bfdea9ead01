-- Backup schedules with their retention, and verifications of backups by a
-- test restore into a scratch database (issue 9, manual §7.1).

-- One schedule per host: a cron expression read in a time zone. The console
-- processes sharing this database take a due schedule with
-- `FOR UPDATE SKIP LOCKED` and move `next_run_at` on in the same
-- transaction, so each slot runs once whatever the number of processes.
CREATE TABLE backup_schedules (
    host_id       bigint      PRIMARY KEY REFERENCES hosts (id),
    enabled       boolean     NOT NULL,
    cron          text        NOT NULL,
    time_zone     text        NOT NULL,
    -- Retention: the newest N, plus the newest of each of the last D days,
    -- W ISO weeks and M months (in the schedule's time zone). A restore's
    -- safety copy is never pruned.
    keep_last     integer     NOT NULL CHECK (keep_last BETWEEN 1 AND 100),
    keep_daily    integer     NOT NULL CHECK (keep_daily BETWEEN 0 AND 366),
    keep_weekly   integer     NOT NULL CHECK (keep_weekly BETWEEN 0 AND 104),
    keep_monthly  integer     NOT NULL CHECK (keep_monthly BETWEEN 0 AND 120),
    -- Verify each scheduled backup by restoring it into a scratch database.
    verify_after  boolean     NOT NULL,
    -- The next slot of the cron expression.
    next_run_at   timestamptz NOT NULL,
    -- The host was busy at the slot: when to try again.
    retry_at      timestamptz,
    last_run_at   timestamptz,
    last_job_id   bigint      REFERENCES jobs (id),
    updated_by    text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- When retention removed a backup's object.
ALTER TABLE backups ADD COLUMN pruned_at timestamptz;

-- A verification: the backup restored into a scratch database, its tables
-- and their row counts read, the scratch database dropped.
CREATE TABLE backup_verifications (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    backup_id    bigint      NOT NULL REFERENCES backups (id),
    job_id       bigint      REFERENCES jobs (id),
    status       text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    -- How long pg_restore took to bring the database back: the RTO's measure.
    restore_ms   bigint,
    -- [{"table": "public.pizzas_pizza", "rows": 12}, …]
    tables       jsonb,
    -- Why it failed: a job failure's code.
    failure      text
);

CREATE INDEX backup_verifications_by_backup ON backup_verifications (backup_id, id DESC);
