-- Linode (manual §5.1): the API token the console uses, sealed in the secret
-- store (write-only: pages show who changed it and when, never the value),
-- and which Linode instance each host is.

CREATE TABLE linode_token (
    -- One token for the console: a single row.
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    secret_id   bigint      NOT NULL REFERENCES secrets (id),
    -- The scopes the API reported when the token was checked.
    scopes      text        NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text        NOT NULL
);

CREATE TABLE host_linodes (
    host_id     bigint      PRIMARY KEY REFERENCES hosts (id),
    linode_id   bigint      NOT NULL,
    -- The instance's label when it was picked (the page reads the live one).
    label       text        NOT NULL,
    linked_at   timestamptz NOT NULL DEFAULT now(),
    linked_by   text        NOT NULL
);
