-- What the home page reads at every visit and changes seldom is kept in
-- each console process's memory until it changes: the hosts, each host's
-- Linode and whether a Linode token is stored, the CI provider's and
-- Sentry's settings. A change to any of them is announced on
-- `console_dashboard` (the payload names what changed), whichever process
-- wrote it: every process forgets its copy, and the live home pages read
-- themselves again. (The hosts table also announces its changes to the
-- backups' memory: hosts_announce_change.)
CREATE TRIGGER hosts_announced AFTER INSERT OR UPDATE OR DELETE ON hosts
    FOR EACH STATEMENT EXECUTE FUNCTION announce_home_page_change('hosts');
CREATE TRIGGER host_linodes_announced AFTER INSERT OR UPDATE OR DELETE ON host_linodes
    FOR EACH STATEMENT EXECUTE FUNCTION announce_home_page_change('linodes');
CREATE TRIGGER linode_token_announced AFTER INSERT OR UPDATE OR DELETE ON linode_token
    FOR EACH STATEMENT EXECUTE FUNCTION announce_home_page_change('linodes');
CREATE TRIGGER integrations_announced AFTER INSERT OR UPDATE OR DELETE ON integrations
    FOR EACH STATEMENT EXECUTE FUNCTION announce_home_page_change('integrations');
