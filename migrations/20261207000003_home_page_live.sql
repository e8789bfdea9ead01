-- The home page follows what it shows, live. A probe result stored, an
-- alert opened, resolved or acknowledged, a web service checked are
-- announced on `console_dashboard` (the payload names what changed),
-- whichever console process wrote them; backups (`console_backups`), the
-- audit log (`console_audit`) and jobs (`job_changes`) already announce on
-- their own channels. PostgreSQL sends a payload once per transaction.
CREATE FUNCTION announce_home_page_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console_dashboard', TG_ARGV[0]);
    RETURN NULL;
END
$$;

CREATE TRIGGER probe_results_announced AFTER INSERT ON probe_results
    FOR EACH STATEMENT EXECUTE FUNCTION announce_home_page_change('sites');
CREATE TRIGGER alerts_announced AFTER INSERT OR UPDATE ON alerts
    FOR EACH STATEMENT EXECUTE FUNCTION announce_home_page_change('alerts');
CREATE TRIGGER web_service_checks_announced AFTER INSERT OR UPDATE ON web_service_checks
    FOR EACH STATEMENT EXECUTE FUNCTION announce_home_page_change('web-services');

-- A job that acted on a host's site (its web or WSGI server, a deploy or
-- rollback, a restore, the Linode's power) makes the host's probe due as it
-- ends: the next pass of any console process probes the site, once, so what
-- the action did to the site is known at once rather than at the next slot.
CREATE FUNCTION probe_after_action() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE site_probes SET next_at = now() WHERE host_id = NEW.host_id AND enabled;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_probe_after_action AFTER UPDATE OF status ON jobs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND NEW.status IN ('succeeded', 'failed', 'cancelled', 'interrupted')
          AND (NEW.action LIKE 'webapp.%' OR NEW.action LIKE 'deploy.%' OR NEW.action LIKE 'linode.%'
               OR NEW.action = 'backup.restore'))
    EXECUTE FUNCTION probe_after_action();
