-- Deploys (manual §6.1, §7.2): jobs made of steps, each deploy and rollback
-- recorded (from commit → to commit), and each host's deploy settings.

-- The steps of a job made of steps, in order. A step starting or ending is
-- announced like the job's status (`job <id>` on `job_changes`), so its
-- page follows the steps live.
CREATE TABLE job_steps (
    job_id      bigint      NOT NULL REFERENCES jobs (id),
    position    integer     NOT NULL,
    step        text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
    started_at  timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (job_id, position)
);

CREATE FUNCTION announce_job_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('job_changes', 'job ' || NEW.job_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER job_step_announced AFTER INSERT OR UPDATE OF status ON job_steps
    FOR EACH ROW EXECUTE FUNCTION announce_job_step();

-- One row per deploy or rollback: what the app ran before (from) and what
-- it was asked to run (to). `to_commit` is known once the checkout is done;
-- how it ended is its job's status.
CREATE TABLE deploys (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id      bigint      NOT NULL REFERENCES hosts (id),
    job_id       bigint      NOT NULL REFERENCES jobs (id),
    kind         text        NOT NULL CHECK (kind IN ('deploy', 'rollback')),
    -- The branch deployed (a deploy), or NULL (a rollback checks out a commit).
    branch       text,
    -- The deploy whose version a rollback returns to.
    rollback_of  bigint      REFERENCES deploys (id),
    from_commit  text,
    from_subject text,
    to_commit    text,
    to_subject   text,
    actor        text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deploys_by_host ON deploys (host_id, id DESC);
CREATE INDEX deploys_by_job ON deploys (job_id);

-- How a host's app is deployed; a host without a row uses the defaults
-- (Django's follow-up steps, the site URL answering 200 within 30 s).
CREATE TABLE deploy_settings (
    host_id              bigint      PRIMARY KEY REFERENCES hosts (id),
    -- The Python that runs manage.py and pip (a virtualenv's, say).
    python               text        NOT NULL,
    install_requirements boolean     NOT NULL,
    migrate              boolean     NOT NULL,
    collect_static       boolean     NOT NULL,
    restart_wsgi         boolean     NOT NULL,
    -- NULL: the host's site URL.
    health_url           text,
    health_status        integer     NOT NULL CHECK (health_status BETWEEN 100 AND 599),
    health_seconds       integer     NOT NULL CHECK (health_seconds BETWEEN 1 AND 600),
    backup_before        text        NOT NULL CHECK (backup_before IN ('when-migrations-pending', 'always', 'never')),
    -- A deploy whose health gate fails is rolled back at once (otherwise
    -- the rollback is offered).
    rollback_on_failure  boolean     NOT NULL,
    changed_at           timestamptz NOT NULL DEFAULT now(),
    changed_by           text        NOT NULL
);
