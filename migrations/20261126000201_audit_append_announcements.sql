-- Every append to the audit log is announced on the `console_audit`
-- channel, once per statement, so that every console process forgets the
-- newest records its dashboard remembers (domain/src/audit/newest.rs).
CREATE FUNCTION announce_audit_append() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console_audit', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_log_announce_append
    AFTER INSERT ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION announce_audit_append();
