-- Managed hosts (manual §4.1.2) and the jobs run on them (§3.1-3.2, §5.2).

CREATE TABLE hosts (
    id                     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                   text        NOT NULL CONSTRAINT hosts_name_key UNIQUE,
    ssh_address            text        NOT NULL,
    ssh_port               integer     NOT NULL CHECK (ssh_port BETWEEN 1 AND 65535),
    ssh_user               text        NOT NULL,
    -- The console's private key for this host, in the secret store.
    private_key_secret     bigint      NOT NULL REFERENCES secrets (id),
    -- Its public half, to copy into the host's authorized_keys.
    public_key             text        NOT NULL,
    -- The pinned host key, confirmed by an admin at registration.
    host_key               text        NOT NULL,
    host_key_fingerprint   text        NOT NULL,
    -- Set when the host last presented another key (an alert until re-pinned).
    presented_fingerprint  text,
    presented_at           timestamptz,
    app_dir                text        NOT NULL,
    web_service            text        NOT NULL,
    wsgi_service           text        NOT NULL,
    -- NULL: services are controlled with `sudo -n systemctl <verb> <unit>`;
    -- otherwise this program is run as `<program> <unit> <verb>`.
    service_command        text,
    site_url               text        NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id          bigint      NOT NULL REFERENCES hosts (id),
    action           text        NOT NULL,
    -- Changes the host (stop, restart, deploy…): at most one at a time per host.
    mutating         boolean     NOT NULL,
    command_line     text        NOT NULL,
    actor_id         bigint      REFERENCES accounts (id),
    actor            text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    exit_status      integer,
    error            text,
    -- The console process running it, which holds an advisory lock on this
    -- id while alive: a job whose runner's lock is free was interrupted.
    runner           bigint,
    cancel_requested boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);

-- The lock that keeps two mutating jobs off one host, in every console process.
CREATE UNIQUE INDEX jobs_one_mutating_per_host ON jobs (host_id)
    WHERE mutating AND status IN ('queued', 'running');
CREATE INDEX jobs_by_host ON jobs (host_id, id DESC);

CREATE TABLE job_output (
    job_id   bigint      NOT NULL REFERENCES jobs (id),
    seq      bigint      NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    stderr   boolean     NOT NULL,
    line     text        NOT NULL,
    PRIMARY KEY (job_id, seq)
);
