-- API tokens (issue 13): what a script or CI presents instead of a password,
-- on /api/v1. Each belongs to one account, acts with at most that account's
-- role (its scope: read or operate), ends at its expiry or when revoked.
-- Only the SHA-256 of the token's random secret is stored.
CREATE TABLE api_tokens (
    id             bigserial   PRIMARY KEY,
    account_id     bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name           text        NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    scope          text        NOT NULL CHECK (scope IN ('read', 'operate')),
    secret_digest  bytea       NOT NULL UNIQUE CHECK (length(secret_digest) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_by     text,
    -- Written at most once a minute per token (and when the address changes).
    last_used_at   timestamptz,
    last_used_from text,
    CHECK (expires_at > created_at AND expires_at <= created_at + interval '366 days')
);

-- A name tells an account's live tokens apart.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (account_id, name) WHERE revoked_at IS NULL;

-- Each console process remembers the live tokens; a token issued, revoked
-- or removed is announced on `console_sessions` (as account changes are),
-- so that every process forgets what it remembered at once. Its last use
-- is not announced.
CREATE FUNCTION announce_token_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console_sessions', 'tokens');
    RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_announce_change
    AFTER INSERT OR DELETE OR UPDATE OF revoked_at, expires_at, scope, account_id, secret_digest ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION announce_token_change();
