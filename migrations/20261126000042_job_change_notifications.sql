-- Live job output without polling: every change a viewer or a runner waits
-- for is announced on the `job_changes` channel (LISTEN/NOTIFY), whichever
-- console process made it. Payloads: `line <job> <last seq>` when output
-- lines are stored (one per statement, so one per batch or COPY), and
-- `job <job>` when a job's status changes or a cancel is asked.

CREATE FUNCTION announce_job_output() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('job_changes', 'line ' || job_id || ' ' || max(seq))
    FROM new_lines GROUP BY job_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER job_output_announced AFTER INSERT ON job_output
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION announce_job_output();

CREATE FUNCTION announce_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('job_changes', 'job ' || NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER job_change_announced AFTER UPDATE OF status, cancel_requested ON jobs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.cancel_requested IS DISTINCT FROM NEW.cancel_requested)
    EXECUTE FUNCTION announce_job_change();
