-- When a notification was last tried: the channels' list says when the
-- newest try failed (`next_at` is when the next one comes).
ALTER TABLE alert_notifications ADD COLUMN tried_at timestamptz;
UPDATE alert_notifications SET tried_at = coalesce(sent_at, created_at) WHERE attempts > 0;
