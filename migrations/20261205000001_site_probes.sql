-- Supervision (manual §8): each host's site probed from the console on a
-- schedule, its results kept (raw for 48 hours, by the hour for 30 days).

-- How a host's site is probed. Every host has one (made with defaults the
-- first time the probes look); `next_at` is the next slot, claimed by one
-- console process (`FOR UPDATE SKIP LOCKED`, moved on before the probe).
CREATE TABLE site_probes (
    host_id         bigint      PRIMARY KEY REFERENCES hosts (id),
    -- NULL: the host's site URL.
    url             text,
    expected_status integer     NOT NULL DEFAULT 200 CHECK (expected_status BETWEEN 100 AND 599),
    -- Text the answer's body must hold, NULL: any.
    expected_text   text,
    timeout_ms      integer     NOT NULL DEFAULT 5000 CHECK (timeout_ms BETWEEN 100 AND 60000),
    interval_s      integer     NOT NULL DEFAULT 60 CHECK (interval_s BETWEEN 10 AND 86400),
    enabled         boolean     NOT NULL DEFAULT true,
    next_at         timestamptz NOT NULL DEFAULT now(),
    changed_by      text,
    changed_at      timestamptz
);
CREATE INDEX site_probes_due ON site_probes (next_at) WHERE enabled;

-- One probe's result. `failure` is a code the pages translate (never a
-- library's words); `cert_expires_at` is the site's certificate's end of
-- validity (https only).
CREATE TABLE probe_results (
    host_id         bigint      NOT NULL REFERENCES hosts (id),
    at              timestamptz NOT NULL,
    up              boolean     NOT NULL,
    status          integer,
    latency_ms      integer     NOT NULL,
    failure         text,
    cert_expires_at timestamptz,
    PRIMARY KEY (host_id, at)
);

-- The results by the hour, kept 30 days (uptime over 7 and 30 days, the
-- long charts). Added to as each result is stored.
CREATE TABLE probe_hours (
    host_id        bigint      NOT NULL REFERENCES hosts (id),
    hour           timestamptz NOT NULL,
    probes         integer     NOT NULL,
    up             integer     NOT NULL,
    latency_sum_ms bigint      NOT NULL,
    latency_max_ms integer     NOT NULL,
    PRIMARY KEY (host_id, hour)
);
