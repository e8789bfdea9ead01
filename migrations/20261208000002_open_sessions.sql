-- Each signed-in browser session, as its account (and the admins) list it
-- on "Mes sessions": when it started, when it was last seen, from which
-- address, with which browser. Keyed by the SHA-256 of the session's id:
-- the id itself (the cookie's secret) stays in the session table only.
-- A row goes with its session: the session table's trigger (installed with
-- that table, see the server's session cache) deletes it.
CREATE TABLE open_sessions (
    id             bigserial   PRIMARY KEY,
    session_digest text        NOT NULL UNIQUE CHECK (session_digest ~ '^[0-9a-f]{64}$'),
    account_id     bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    started_at     timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    client_address text,
    user_agent     text
);

CREATE INDEX open_sessions_account ON open_sessions (account_id);
