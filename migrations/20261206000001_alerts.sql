-- Alerts (manual §8): rules that watch what the console already knows (the
-- site probes, the backups, the jobs), alerts opened and resolved by them,
-- and the channels (webhook, e-mail) each change of state is sent to.

-- Each rule, on or off, with its threshold (what the threshold means is
-- the rule's: probes in a row, milliseconds, days, hours). Every rule has
-- its row from the start; admins change them (audited).
CREATE TABLE alert_rules (
    kind       text        PRIMARY KEY,
    enabled    boolean     NOT NULL DEFAULT true,
    threshold  integer     NOT NULL CHECK (threshold > 0),
    changed_by text,
    changed_at timestamptz
);
INSERT INTO alert_rules (kind, threshold) VALUES
    ('site-down', 3),
    ('site-slow', 2000),
    ('certificate-expiring', 14),
    ('backup-failed', 1),
    ('backup-old', 26),
    ('host-key-changed', 1);

-- One alert: a rule that started to hold for a host, until it stops. At
-- most one open alert per host and rule (the index below): however many
-- console processes evaluate the rules, an alert is opened once and
-- resolved once. `details` are the words and figures of its message
-- (never a secret).
CREATE TABLE alerts (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id         bigint      NOT NULL REFERENCES hosts (id),
    kind            text        NOT NULL REFERENCES alert_rules (kind),
    details         jsonb       NOT NULL DEFAULT '{}',
    opened_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    acknowledged_by text,
    acknowledged_at timestamptz
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (host_id, kind) WHERE resolved_at IS NULL;
CREATE INDEX alerts_newest ON alerts (opened_at DESC);

-- Where notifications go. A webhook's URL (it carries its token) and an
-- SMTP password are sealed in the secret store; the rest is shown.
CREATE TABLE alert_channels (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL UNIQUE,
    kind          text        NOT NULL CHECK (kind IN ('webhook', 'email')),
    -- The language its messages are written in.
    language      text        NOT NULL DEFAULT 'fr',
    -- Webhook: the URL. E-mail: the SMTP password (NULL: no login).
    secret_id     bigint      REFERENCES secrets (id),
    -- Webhook: the URL's scheme, host and port, for the page.
    shown_address text        NOT NULL,
    smtp_host     text,
    smtp_port     integer     CHECK (smtp_port BETWEEN 1 AND 65535),
    -- 'starttls' (required) or 'tls' (from the first byte).
    smtp_security text        CHECK (smtp_security IN ('starttls', 'tls')),
    smtp_username text,
    mail_from     text,
    mail_to       text,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'webhook' AND secret_id IS NOT NULL)
        OR (kind = 'email' AND smtp_host IS NOT NULL AND smtp_port IS NOT NULL AND smtp_security IS NOT NULL
            AND mail_from IS NOT NULL AND mail_to IS NOT NULL))
);

-- Each notification to send: one per change of an alert's state and
-- channel, written in the same transaction as the change (so a change is
-- never lost, nor sent twice by two processes). A delivery pass claims the
-- due ones (`FOR UPDATE SKIP LOCKED`), sends, and marks them sent, or due
-- again later (backoff) with why it failed, until it gives up.
CREATE TABLE alert_notifications (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id   bigint      NOT NULL REFERENCES alerts (id),
    channel_id bigint      NOT NULL REFERENCES alert_channels (id) ON DELETE CASCADE,
    event      text        NOT NULL CHECK (event IN ('opened', 'resolved')),
    attempts   integer     NOT NULL DEFAULT 0,
    next_at    timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    -- Why the last attempt failed: a code the pages translate.
    failure    text,
    given_up   boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_notifications_due ON alert_notifications (next_at) WHERE sent_at IS NULL AND NOT given_up;
CREATE INDEX alert_notifications_of_alert ON alert_notifications (alert_id);
CREATE INDEX alert_notifications_of_channel ON alert_notifications (channel_id, created_at DESC);
