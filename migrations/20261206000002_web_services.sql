-- The web services the app needs (manual §3.3: the Google Maps and PayPal
-- APIs), checked from each host over SSH (where the app really runs: its
-- DNS, firewall and proxy) and from the console. The two of the manual are
-- there from the start, off until an admin turns them on (a console that
-- cannot reach them, a test machine, would only raise alerts).
CREATE TABLE web_services (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    url        text        NOT NULL,
    enabled    boolean     NOT NULL DEFAULT true,
    -- The next check, claimed by one console process (`FOR UPDATE SKIP
    -- LOCKED`, moved on before checking).
    next_at    timestamptz NOT NULL DEFAULT now(),
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO web_services (name, url, enabled, created_by) VALUES
    ('Google Maps', 'https://maps.googleapis.com/maps/api/geocode/json', false, 'installation'),
    ('PayPal', 'https://api-m.paypal.com/v1/oauth2/token', false, 'installation');

-- The newest check of a service from one place (a host; NULL: the
-- console), and the newest failure with its time.
CREATE TABLE web_service_checks (
    service_id      bigint      NOT NULL REFERENCES web_services (id) ON DELETE CASCADE,
    host_id         bigint      REFERENCES hosts (id),
    at              timestamptz NOT NULL,
    reachable       boolean     NOT NULL,
    status          integer,
    latency_ms      integer     NOT NULL,
    -- A code the pages translate (probe failures' words).
    failure         text,
    last_failure    text,
    last_failure_at timestamptz
);
CREATE UNIQUE INDEX web_service_checks_one_per_place ON web_service_checks (service_id, coalesce(host_id, 0));

INSERT INTO alert_rules (kind, threshold) VALUES ('web-service-unreachable', 1);
