-- Every change to an account (disabled, password changed, language, role)
-- is announced on the `console_sessions` channel, so that every console
-- process drops what its session cache holds for that account at once.
CREATE FUNCTION announce_account_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console_sessions', 'account:' || OLD.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER accounts_announce_change
    AFTER UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION announce_account_change();
