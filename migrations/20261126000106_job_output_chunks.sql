-- Job output in chunks (#8 item 6): one row per block of consecutive lines
-- of one stream, instead of one row per line. A row's own costs (its foreign
-- key check, its index entry, its tuple) held a flood of output to a few
-- MiB/s; a chunk holds up to a few hundred KiB of lines.
--
-- A chunk's lines are numbered from `first_seq` (the job's first line is 1,
-- numbers run on without gaps across chunks); `lines` holds `line_count`
-- lines, each ended by a line feed (a line holds no line feed and no NUL).

CREATE TABLE job_output_chunks (
    job_id     bigint      NOT NULL REFERENCES jobs (id),
    first_seq  bigint      NOT NULL CHECK (first_seq > 0),
    line_count integer     NOT NULL CHECK (line_count > 0),
    stderr     boolean     NOT NULL,
    lines      text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, first_seq)
);

-- The default compression (pglz) costs more than everything else on the way
-- (about 15 MB/s): lz4 where this PostgreSQL has it (14 and later, when built
-- with it), otherwise none (stored out of line, uncompressed, as the lines
-- were before).
ALTER TABLE job_output_chunks ALTER COLUMN lines SET STORAGE EXTERNAL;
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE 'ALTER TABLE job_output_chunks ALTER COLUMN lines SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE job_output_chunks ALTER COLUMN lines SET STORAGE EXTENDED';
    END IF;
EXCEPTION WHEN feature_not_supported THEN
    -- Built without lz4: stays uncompressed.
END
$$;

-- The lines stored until now, one chunk each.
INSERT INTO job_output_chunks (job_id, first_seq, line_count, stderr, lines, at)
SELECT job_id, seq, 1, stderr, replace(line, E'\n', ' ') || E'\n', at FROM job_output;

DROP TABLE job_output;
DROP FUNCTION announce_job_output();

-- The lines one per row, as the table was, for reading by hand.
CREATE VIEW job_output (job_id, seq, at, stderr, line) AS
SELECT c.job_id, c.first_seq + l.n - 1, c.at, c.stderr, l.line
FROM job_output_chunks c
CROSS JOIN LATERAL unnest(string_to_array(c.lines, E'\n')) WITH ORDINALITY AS l (line, n)
WHERE l.n <= c.line_count;

-- Announced as before (see 20261126000042): `line <job> <last seq>`, one
-- notification per statement, so one per write of the job's output.
CREATE FUNCTION announce_job_output() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('job_changes', 'line ' || job_id || ' ' || max(first_seq + line_count - 1))
    FROM new_chunks GROUP BY job_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER job_output_announced AFTER INSERT ON job_output_chunks
    REFERENCING NEW TABLE AS new_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION announce_job_output();
