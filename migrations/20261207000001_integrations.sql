-- Where the console reads the app's CI state and its errors (manual §8.1):
-- at most one CI provider (GitHub Actions or Travis CI) and one Sentry
-- project, each with its API's address and an optional token (sealed in
-- the secret store, never readable back).
CREATE TABLE integrations (
    -- 'ci' or 'errors': one of each at most.
    purpose     text        PRIMARY KEY CHECK (purpose IN ('ci', 'errors')),
    provider    text        NOT NULL CHECK (provider IN ('github-actions', 'travis-ci', 'sentry')),
    -- The API's address (https, or http to this machine), no trailing slash.
    api_url     text        NOT NULL,
    -- CI: the repository, owner/name; Sentry: organization/project.
    project     text        NOT NULL,
    token_secret_id bigint  REFERENCES secrets (id),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text        NOT NULL,
    CHECK ((purpose = 'ci') = (provider <> 'sentry'))
);
