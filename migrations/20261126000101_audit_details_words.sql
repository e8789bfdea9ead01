-- Free-text search in the audit log's details by words (#8 item 7): the
-- trigram index on details::text made a common term cost a scan of every
-- match (176 ms at 10 M rows). The details' words are now stored beside
-- each row (computed by PostgreSQL, never written by the console) with a
-- GIN index, and the page asks for the typed words as a phrase, the last
-- one as a prefix: "wrong user" finds "wrong username or password",
-- "host-04" finds "host-042". A fragment from inside a word ("sername") is
-- no longer found; punctuation between words does not matter.
--
-- Words are runs of anything but ASCII punctuation and white space, both in
-- the details and in what is typed (one function for each side, so they
-- cannot disagree); letters are folded to lower case as ILIKE folded them.

CREATE FUNCTION audit_words(details jsonb) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT to_tsvector('pg_catalog.simple', regexp_replace(details::text, '[[:punct:][:space:]]+', ' ', 'g')) $$;

-- What is typed, as the phrase of its words, the last one a prefix. Text
-- with no word at all gives an empty query (which matches nothing).
CREATE FUNCTION audit_words_query(typed text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT CASE WHEN phrase::text = '' THEN phrase ELSE (phrase::text || ':*')::tsquery END
        FROM (SELECT phraseto_tsquery('pg_catalog.simple',
                                      regexp_replace(typed, '[[:punct:][:space:]]+', ' ', 'g')) AS phrase) AS typed_words
    $$;

-- The rows are append-only and hashed as written: adding a generated
-- column rewrites the table without firing its row triggers, and the
-- chain's hash does not cover it.
ALTER TABLE audit_log
    ADD COLUMN details_words tsvector GENERATED ALWAYS AS (audit_words(details)) STORED;
CREATE INDEX audit_log_details_words ON audit_log USING gin (details_words);
DROP INDEX audit_log_details_text;

-- The CSV export is written by PostgreSQL (COPY): a cell a spreadsheet
-- would run as a formula gets a leading quote, as the console did.
CREATE FUNCTION audit_spreadsheet_safe(cell text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    -- = + - @ tab and carriage return, by code (ascii() reads the first
    -- character without copying it: this runs twice for every row).
    AS $$ SELECT CASE WHEN ascii(cell) IN (61, 43, 45, 64, 9, 13) THEN '''' || cell ELSE cell END $$;
