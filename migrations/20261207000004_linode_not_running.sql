-- Each linked host's Linode state as the console last saw it: read once a
-- minute by one console process at a time, and at the end of every power
-- action. The alert rule "Linode not running" reads it.
CREATE TABLE linode_states (
    host_id  bigint      PRIMARY KEY REFERENCES hosts (id),
    -- The API's word: running, offline, booting, stopped…
    status   text        NOT NULL,
    read_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO alert_rules (kind, threshold) VALUES ('linode-not-running', 1);
