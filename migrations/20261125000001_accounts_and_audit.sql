-- Staff accounts, sign-in throttling, first-admin setup, and the append-only,
-- hash-chained audit log. Sessions live in tower-sessions' own table, which
-- its store creates in the "tower_sessions" schema.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE accounts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username         text        NOT NULL,
    role             text        NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash    text        NOT NULL,
    language         text        NOT NULL DEFAULT 'fr' CHECK (language IN ('fr', 'en')),
    disabled_at      timestamptz,
    -- Bumped when the password changes or the account is disabled: a session
    -- signed in under an older epoch stops working at its next request.
    session_epoch    integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_username_key UNIQUE (username)
);

-- Failed sign-ins per account name and per client address. Kept in the
-- database so the throttle holds across console processes.
CREATE TABLE sign_in_failures (
    subject          text        PRIMARY KEY,
    failures         integer     NOT NULL,
    last_failure_at  timestamptz NOT NULL,
    locked_until     timestamptz
);

-- The one-time link that creates the first admin. Only its SHA-256 is kept.
CREATE TABLE first_admin_setup (
    singleton        boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    token_sha256     bytea       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               timestamptz NOT NULL,
    actor_id         bigint      REFERENCES accounts (id),
    actor            text        NOT NULL,
    action           text        NOT NULL,
    target           text        NOT NULL DEFAULT '',
    outcome          text        NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    details          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    client_address   text,
    request_id       text,
    -- SHA-256 of the previous row's row_hash and this row's content: a chain
    -- that `verify-audit` walks to name the first broken link.
    previous_hash    bytea       NOT NULL,
    row_hash         bytea       NOT NULL
);

-- Newest first with keyset pagination on (at, id), alone or behind a filter.
CREATE INDEX audit_log_newest ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_by_actor ON audit_log (actor, at DESC, id DESC);
CREATE INDEX audit_log_by_action ON audit_log (action, at DESC, id DESC);
CREATE INDEX audit_log_by_target ON audit_log (target, at DESC, id DESC);
CREATE INDEX audit_log_details_text ON audit_log USING gin ((details::text) gin_trgm_ops);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
