-- The audit chain gets a key, and repeated anonymous refusals are coalesced.
--
-- Rows written before this migration were chained with plain SHA-256
-- (version 1); from the first start of a console that has the chain key,
-- every row is chained with HMAC-SHA256 under that key (version 2). A
-- version 1 row after a version 2 row is a break: a plain hash is something
-- anyone with the database can recompute, a keyed one is not.
ALTER TABLE audit_log ADD COLUMN chain_version smallint NOT NULL DEFAULT 1;

-- The chain's key: sealed in the secret store (under the master key, which
-- the database never sees). One row, written once, by the first console
-- that starts after this migration; the console's role may read and insert
-- it, never change it.
CREATE TABLE audit_chain (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    -- Random: names this chain in the signed checkpoints and in the
    -- purpose its key is sealed under.
    chain_id    bytea       NOT NULL,
    key_secret  bigint      NOT NULL REFERENCES secrets (id),
    keyed_at    timestamptz NOT NULL DEFAULT now()
);

-- Anonymous refusals repeated by one client address: the first of a minute
-- is written to the audit log at once, the others counted here and written
-- as one summary row when the minute is over.
CREATE TABLE audit_repeats (
    action        text        NOT NULL,
    source        text        NOT NULL,
    kind          text        NOT NULL,
    target        text        NOT NULL,
    window_start  timestamptz NOT NULL,
    repeated      integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (action, source, kind)
);
CREATE INDEX audit_repeats_by_window ON audit_repeats (window_start);
