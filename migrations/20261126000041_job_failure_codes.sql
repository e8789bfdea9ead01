-- A job's failure is stored as a code with safe parameters (vocabulary's
-- JobFailure as JSON: {"code": "...", ...}), translated by the interface;
-- what a library said (SSH, the secret store, the database) goes to the log
-- only. The free-text `error` column, which could carry that text, goes.

ALTER TABLE jobs ADD COLUMN failure jsonb CHECK (failure IS NULL OR jsonb_typeof(failure -> 'code') = 'string');

-- The sentences the console wrote until now, read back as codes.
UPDATE jobs SET failure = CASE
    WHEN error = 'cancelled by an operator' THEN '{"code": "cancelled"}'::jsonb
    WHEN error = 'the console running it stopped before it finished' THEN '{"code": "console-stopped"}'
    WHEN error LIKE 'the command exited with status %' THEN '{"code": "command-failed"}'
    WHEN error LIKE 'the command ended without an exit status%' THEN '{"code": "no-exit-status"}'
    WHEN error LIKE 'sudo asked for a password.%' THEN jsonb_build_object(
        'code', 'sudo-wants-password',
        'line', coalesce(substring(error FROM '\(visudo -f [^)]*\): (.*)$'), ''))
    WHEN error LIKE 'ssh: the host does not answer%' OR error LIKE 'the host does not answer%' THEN '{"code": "host-unreachable"}'
    WHEN error LIKE 'ssh: no answer within%' OR error LIKE 'no answer within%' THEN '{"code": "host-timed-out"}'
    WHEN error LIKE '%, not the pinned %' THEN '{"code": "host-key-changed"}'
    WHEN error LIKE '%refused the console''s key%' THEN '{"code": "key-refused"}'
    WHEN error LIKE '%the connection was lost%' THEN '{"code": "connection-lost"}'
    WHEN error LIKE '%not a valid OpenSSH private key%' THEN '{"code": "private-key-unusable"}'
    ELSE '{"code": "internal"}'
END
WHERE error IS NOT NULL;

ALTER TABLE jobs DROP COLUMN error;
