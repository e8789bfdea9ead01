-- The app's environment variables (manual §4.1.1), per host: plain values
-- kept as they are, secret values sealed in the secret store (never shown,
-- never returned); each apply (the `.env` file written on the host) kept
-- with what it wrote, so that drift (the host's file changed by hand) and
-- changes not yet applied can be named.

CREATE TABLE app_env_vars (
    host_id     bigint      NOT NULL REFERENCES hosts (id),
    name        text        NOT NULL CHECK (name ~ '^[A-Z_][A-Z0-9_]*$'),
    secret      boolean     NOT NULL,
    -- A plain variable's value; NULL for a secret one.
    value       text,
    -- A secret variable's sealed value; NULL for a plain one.
    secret_id   bigint      REFERENCES secrets (id),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text        NOT NULL,
    PRIMARY KEY (host_id, name),
    CHECK ((secret AND value IS NULL AND secret_id IS NOT NULL) OR (NOT secret AND secret_id IS NULL AND value IS NOT NULL))
);

-- Each version: an apply (the file written by a job) or an import (the
-- host's file taken as the console's values); who, when, the names changed.
CREATE TABLE app_env_applies (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id       bigint      NOT NULL REFERENCES hosts (id),
    kind          text        NOT NULL CHECK (kind IN ('apply', 'import')),
    -- The apply's job; NULL for an import.
    job_id        bigint      REFERENCES jobs (id),
    applied_at    timestamptz NOT NULL DEFAULT now(),
    applied_by    text        NOT NULL,
    changed_names text[]      NOT NULL,
    -- Set once the file is written (an apply whose job failed wrote nothing
    -- the console relies on).
    written       boolean     NOT NULL DEFAULT false
);
CREATE INDEX app_env_applies_by_host ON app_env_applies (host_id, id DESC);

-- What a version holds, variable by variable (the values as the console
-- held them: plain, or the sealed secret's row).
CREATE TABLE app_env_applied (
    apply_id    bigint      NOT NULL REFERENCES app_env_applies (id),
    name        text        NOT NULL,
    secret      boolean     NOT NULL,
    value       text,
    secret_id   bigint      REFERENCES secrets (id),
    PRIMARY KEY (apply_id, name)
);
