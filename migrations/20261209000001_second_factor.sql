-- The second factor at sign-in (TOTP, RFC 6238) and its recovery codes.

-- An account's authenticator: its secret sealed in the secret store, from
-- enrolment (confirmed_at still empty: the first valid code confirms it).
-- `last_step` is the 30-second step of the last code accepted: a code of
-- that step or an earlier one is never accepted again (no replay).
CREATE TABLE second_factors (
    account_id   bigint      PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    secret_id    bigint      NOT NULL REFERENCES secrets (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz,
    last_step    bigint      NOT NULL DEFAULT 0
);

-- Ten single-use codes for a lost phone, shown once: only their SHA-256
-- is kept (80 random bits each: a fast hash is enough).
CREATE TABLE recovery_codes (
    id          bigserial   PRIMARY KEY,
    account_id  bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_digest bytea       NOT NULL,
    used_at     timestamptz,
    UNIQUE (account_id, code_digest)
);

-- Who must have a second factor: one row, an admin's choice.
CREATE TABLE second_factor_policy (
    only_row     boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    required_for text        NOT NULL DEFAULT 'nobody' CHECK (required_for IN ('nobody', 'admins', 'everyone')),
    changed_at   timestamptz,
    changed_by   text
);
INSERT INTO second_factor_policy DEFAULT VALUES;

-- Each console process remembers who has a second factor and who must;
-- a change is announced on `console_sessions`, so every process forgets
-- it at once (an account enrolled is no longer sent to enrol elsewhere).
CREATE FUNCTION announce_second_factor_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console_sessions', 'second_factor');
    RETURN NULL;
END
$$;

CREATE TRIGGER second_factors_announce_change
    AFTER INSERT OR DELETE OR UPDATE OF confirmed_at, account_id ON second_factors
    FOR EACH ROW EXECUTE FUNCTION announce_second_factor_change();

CREATE TRIGGER second_factor_policy_announce_change
    AFTER UPDATE ON second_factor_policy
    FOR EACH ROW EXECUTE FUNCTION announce_second_factor_change();
