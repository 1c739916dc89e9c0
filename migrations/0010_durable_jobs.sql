-- Durable import jobs. An upload is stored in the database with its job, queued, and taken by a
-- live server (`FOR UPDATE SKIP LOCKED`); a job whose runner dies (its advisory lock released) is
-- queued again until `max_attempts`, then failed with the reason. Jobs of the command line run
-- where they were started (their file is that machine's): `max_attempts` 1, no stored file.

ALTER TYPE bando.job_status ADD VALUE IF NOT EXISTS 'queued' BEFORE 'running';

ALTER TABLE bando.import_jobs
    -- The whole request (options, agency, actor) as the importer takes it, to run it anywhere.
    ADD COLUMN request      jsonb,
    ADD COLUMN attempts     integer NOT NULL DEFAULT 1,
    ADD COLUMN max_attempts integer NOT NULL DEFAULT 1,
    -- The server (instance id) running the current attempt, or that ran the last one.
    ADD COLUMN runner       text,
    -- Where the running attempt is: reading, loading, indexing, publishing.
    ADD COLUMN stage        text,
    ADD COLUMN queued_at    timestamptz,
    -- A queued job is not taken before this (a retry waits a little).
    ADD COLUMN not_before   timestamptz,
    ADD CONSTRAINT import_jobs_attempts_check CHECK (attempts BETWEEN 0 AND max_attempts);

-- Unfinished jobs, for the queue and the sweeper.
CREATE INDEX import_jobs_unfinished_idx ON bando.import_jobs (id) WHERE finished_at IS NULL;

-- An upload's file, in chunks (streamed in and out, never whole in memory), until its job ends.
CREATE TABLE bando.job_files (
    job_id    bigint  NOT NULL REFERENCES bando.import_jobs (id) ON DELETE CASCADE,
    file_name text    NOT NULL,
    seq       integer NOT NULL,
    data      bytea   NOT NULL,
    PRIMARY KEY (job_id, seq)
);
-- Uploads are mostly compressed already (zips, GeoPackages of coordinates): no TOAST compression.
ALTER TABLE bando.job_files ALTER COLUMN data SET STORAGE EXTERNAL;
