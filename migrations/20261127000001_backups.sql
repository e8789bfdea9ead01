-- Database backups (issue 9, manual §7.1): the key every backup is encrypted
-- to, and the catalog of backups, one row per run.

-- The console's age identity: its secret half in the secret store (sealed
-- under the master key, so a master key rotation keeps it), its public half
-- (an `age1…` recipient) here. The newest row encrypts new backups; older
-- rows stay to open older backups.
CREATE TABLE backup_keys (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_id   bigint      NOT NULL REFERENCES secrets (id),
    recipient   text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE backups (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id          bigint      NOT NULL REFERENCES hosts (id),
    -- The job that took it (its output, its live progress).
    job_id           bigint      REFERENCES jobs (id),
    database_name    text        NOT NULL,
    trigger          text        NOT NULL CHECK (trigger IN ('manual', 'schedule', 'pre-restore', 'pre-deploy', 'api')),
    actor            text        NOT NULL,
    -- Why, as the operator typed it (optional).
    reason           text,
    status           text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'pruned')),
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    -- pg_dump's output, and the object stored (compressed, encrypted).
    raw_bytes        bigint,
    stored_bytes     bigint,
    -- SHA-256 of the stored object, hex.
    sha256           text,
    storage_key      text        NOT NULL UNIQUE,
    key_id           bigint      NOT NULL REFERENCES backup_keys (id),
    pg_dump_version  text,
    server_version   text,
    -- Why it failed: a code the interface translates.
    failure          text,
    -- The restore this backup was taken before, as its safety copy.
    safety_for_job   bigint      REFERENCES jobs (id)
);

CREATE INDEX backups_by_host ON backups (host_id, started_at DESC);
