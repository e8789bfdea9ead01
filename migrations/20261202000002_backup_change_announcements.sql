-- A change of a backup, a verification or a host is announced on the
-- `console_backups` channel, once per statement, so that every console
-- process forgets the hosts' backup health its home page remembers
-- (domain/src/backups/catalog.rs, domain/src/remembered.rs).
CREATE FUNCTION announce_backup_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console_backups', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER backups_announce_change
    AFTER INSERT OR UPDATE OR DELETE ON backups
    FOR EACH STATEMENT EXECUTE FUNCTION announce_backup_change();

CREATE TRIGGER backup_verifications_announce_change
    AFTER INSERT OR UPDATE OR DELETE ON backup_verifications
    FOR EACH STATEMENT EXECUTE FUNCTION announce_backup_change();

CREATE TRIGGER hosts_announce_change
    AFTER INSERT OR UPDATE OR DELETE ON hosts
    FOR EACH STATEMENT EXECUTE FUNCTION announce_backup_change();
