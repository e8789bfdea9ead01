-- The one store for secrets (SSH private keys, API tokens, environment
-- values): each row a value sealed with XChaCha20-Poly1305 under the master
-- key, bound to its purpose. Other tables keep only a secret's id.
CREATE TABLE secrets (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    purpose     text        NOT NULL,
    sealed      bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
