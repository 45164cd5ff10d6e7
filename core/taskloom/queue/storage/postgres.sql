-- Queue and rate-limit storage for Postgres. Times are epoch seconds (float8)
-- on the server's clock, taskloom_now(), so every backend hands out the same
-- Job shape and leases mean the same thing to every worker.
--
-- The schema only grows, and every statement of "schema" is idempotent, so
-- running it again (``setup`` does, under an advisory lock) brings a table
-- made by an older taskloom up to date: a column added later is also listed
-- as ADD COLUMN IF NOT EXISTS.

-- name: schema
SELECT pg_advisory_xact_lock(hashtext('taskloom_queue_schema:' || current_schema()));
CREATE OR REPLACE FUNCTION taskloom_now() RETURNS float8 LANGUAGE sql VOLATILE
    AS $$ SELECT extract(epoch FROM clock_timestamp())::float8 $$;
CREATE TABLE IF NOT EXISTS taskloom_jobs (
    id               text PRIMARY KEY,
    queue            text NOT NULL,
    task_type        text NOT NULL,
    input            jsonb NOT NULL,
    fingerprint      text NOT NULL,
    status           text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL,
    deliveries       integer NOT NULL DEFAULT 0,
    max_deliveries   integer NOT NULL,
    run_after        float8 NOT NULL,
    deadline         float8,
    lease_expires_at float8,
    worker_id        text,
    progress         float8 NOT NULL DEFAULT 0,
    progress_message text,
    output           jsonb,
    error            text,
    error_data       jsonb,
    run_id           text,
    created_at       float8 NOT NULL,
    updated_at       float8 NOT NULL
);
-- Added after the first release: the failure as data (type, message, retryable,
-- retry_after, details).
ALTER TABLE taskloom_jobs ADD COLUMN IF NOT EXISTS error_data jsonb;
CREATE INDEX IF NOT EXISTS taskloom_jobs_claim
    ON taskloom_jobs (queue, run_after) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS taskloom_jobs_lease
    ON taskloom_jobs (queue, lease_expires_at) WHERE status IN ('processing', 'aborting');
CREATE UNIQUE INDEX IF NOT EXISTS taskloom_jobs_fingerprint
    ON taskloom_jobs (queue, fingerprint) WHERE status NOT IN ('failed', 'aborted');
CREATE INDEX IF NOT EXISTS taskloom_jobs_queue_status ON taskloom_jobs (queue, status);
CREATE INDEX IF NOT EXISTS taskloom_jobs_run ON taskloom_jobs (run_id) WHERE run_id IS NOT NULL;
-- Wake idle workers: a job became due on a queue (payload: schema:queue).
CREATE OR REPLACE FUNCTION taskloom_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('taskloom_jobs', TG_TABLE_SCHEMA || ':' || NEW.queue);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER taskloom_jobs_notify
    AFTER INSERT OR UPDATE OF status ON taskloom_jobs
    FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION taskloom_notify_job();
-- Wake a job's waiters: its status or progress changed (payload: schema:job id).
-- A heartbeat, which moves only the lease, stays silent.
CREATE OR REPLACE FUNCTION taskloom_notify_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('taskloom_job_changes', TG_TABLE_SCHEMA || ':' || OLD.id);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER taskloom_jobs_notify_change
    AFTER UPDATE ON taskloom_jobs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.progress IS DISTINCT FROM NEW.progress
          OR OLD.progress_message IS DISTINCT FROM NEW.progress_message)
    EXECUTE FUNCTION taskloom_notify_job_change();
CREATE OR REPLACE TRIGGER taskloom_jobs_notify_delete
    AFTER DELETE ON taskloom_jobs FOR EACH ROW EXECUTE FUNCTION taskloom_notify_job_change();
CREATE TABLE IF NOT EXISTS taskloom_rate_events (
    limiter text NOT NULL,
    at      float8 NOT NULL
);
CREATE INDEX IF NOT EXISTS taskloom_rate_events_window ON taskloom_rate_events (limiter, at);
CREATE TABLE IF NOT EXISTS taskloom_rate_blocks (
    limiter text PRIMARY KEY,
    until   float8 NOT NULL
);
-- One round trip per attempt; the advisory lock serialises the processes
-- that share a limiter, so two of them never take the last slot together.
CREATE OR REPLACE FUNCTION taskloom_rate_acquire(p_limiter text, p_max integer, p_window float8,
        OUT wait_seconds float8, OUT now_at float8) LANGUAGE plpgsql AS $$
DECLARE
    blocked float8;
    taken integer;
    oldest float8;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('taskloom_rate:' || p_limiter));
    now_at := taskloom_now();
    SELECT b.until INTO blocked FROM taskloom_rate_blocks b WHERE b.limiter = p_limiter;
    IF blocked IS NOT NULL AND blocked > now_at THEN
        wait_seconds := blocked - now_at;
        RETURN;
    END IF;
    DELETE FROM taskloom_rate_events e WHERE e.limiter = p_limiter AND e.at <= now_at - p_window;
    SELECT count(*), min(e.at) INTO taken, oldest FROM taskloom_rate_events e
    WHERE e.limiter = p_limiter;
    IF taken < p_max THEN
        INSERT INTO taskloom_rate_events (limiter, at) VALUES (p_limiter, now_at);
        wait_seconds := 0;
    ELSE
        wait_seconds := greatest(oldest + p_window - now_at, 0.001);
    END IF;
END $$;

-- name: now
SELECT taskloom_now();

-- name: insert
WITH inserted AS (
    INSERT INTO taskloom_jobs (id, queue, task_type, input, fingerprint, status, attempts,
        max_attempts, deliveries, max_deliveries, run_after, deadline, run_id, created_at,
        updated_at)
    SELECT %(id)s, %(queue)s, %(task_type)s, %(input)s, %(fingerprint)s, 'pending', 0,
        %(max_attempts)s, 0, %(max_deliveries)s, clock.now + %(delay)s,
        clock.now + %(timeout)s::float8, %(run_id)s, clock.now, clock.now
    FROM (SELECT taskloom_now() AS now) AS clock
    ON CONFLICT (queue, fingerprint) WHERE status NOT IN ('failed', 'aborted') DO NOTHING
    RETURNING *
)
SELECT * FROM inserted
UNION ALL
SELECT * FROM taskloom_jobs
WHERE queue = %(queue)s AND fingerprint = %(fingerprint)s
  AND status NOT IN ('failed', 'aborted') AND NOT EXISTS (SELECT 1 FROM inserted);

-- name: insert_many
-- Many jobs in one statement; duplicates of active jobs (or of each other) are skipped.
INSERT INTO taskloom_jobs (id, queue, task_type, input, fingerprint, status, attempts,
    max_attempts, deliveries, max_deliveries, run_after, deadline, run_id, created_at, updated_at)
SELECT item.id, item.queue, item.task_type, item.input, item.fingerprint, 'pending', 0,
    item.max_attempts, 0, item.max_deliveries, clock.now, NULL, item.run_id, clock.now, clock.now
FROM jsonb_to_recordset(%(items)s) AS item(id text, queue text, task_type text, input jsonb,
        fingerprint text, max_attempts integer, max_deliveries integer, run_id text),
    (SELECT taskloom_now() AS now) AS clock
ON CONFLICT (queue, fingerprint) WHERE status NOT IN ('failed', 'aborted') DO NOTHING
RETURNING *;

-- name: get_active_by_fingerprint
SELECT * FROM taskloom_jobs
WHERE queue = %(queue)s AND fingerprint = %(fingerprint)s AND status NOT IN ('failed', 'aborted');

-- name: get
SELECT * FROM taskloom_jobs WHERE id = %(id)s;

-- name: abort_one
UPDATE taskloom_jobs
SET status = CASE status WHEN 'pending' THEN 'aborted' ELSE 'aborting' END,
    error = CASE status WHEN 'pending' THEN 'aborted before it started' ELSE error END,
    error_data = CASE status WHEN 'pending' THEN NULL ELSE error_data END,
    updated_at = taskloom_now()
WHERE id = %(id)s AND status IN ('pending', 'processing')
RETURNING *;

-- name: abort_run
UPDATE taskloom_jobs
SET status = CASE status WHEN 'pending' THEN 'aborted' ELSE 'aborting' END,
    error = CASE status WHEN 'pending' THEN 'aborted before it started' ELSE error END,
    error_data = CASE status WHEN 'pending' THEN NULL ELSE error_data END,
    updated_at = taskloom_now()
WHERE run_id = %(run_id)s AND (%(queue)s::text IS NULL OR queue = %(queue)s)
  AND status IN ('pending', 'processing');

-- name: list
SELECT * FROM taskloom_jobs
WHERE queue = %(queue)s AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(run_id)s::text IS NULL OR run_id = %(run_id)s)
ORDER BY created_at, id LIMIT %(limit)s;

-- name: stats
SELECT status, count(*) FROM taskloom_jobs WHERE queue = %(queue)s GROUP BY status;

-- name: clear
DELETE FROM taskloom_jobs WHERE queue = %(queue)s;

-- name: output_for
SELECT output FROM taskloom_jobs
WHERE queue = %(queue)s AND fingerprint = %(fingerprint)s AND status = 'completed';

-- name: claim
WITH picked AS (
    SELECT id FROM taskloom_jobs
    WHERE queue = %(queue)s AND status = 'pending' AND run_after <= taskloom_now()
    ORDER BY run_after
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE taskloom_jobs AS job
SET status = 'processing', deliveries = job.deliveries + 1, worker_id = %(worker_id)s,
    lease_expires_at = taskloom_now() + %(lease)s, updated_at = taskloom_now()
FROM picked WHERE job.id = picked.id
RETURNING job.*;

-- name: seconds_until_due
SELECT min(run_after) - taskloom_now() FROM taskloom_jobs
WHERE queue = %(queue)s AND status = 'pending';

-- name: heartbeat
UPDATE taskloom_jobs SET lease_expires_at = taskloom_now() + %(lease)s
WHERE id = %(id)s AND deliveries = %(delivery)s AND status IN ('processing', 'aborting')
RETURNING status;

-- name: set_progress
UPDATE taskloom_jobs SET progress = %(fraction)s, progress_message = %(message)s
WHERE id = %(id)s AND deliveries = %(delivery)s AND status IN ('processing', 'aborting');

-- name: complete
UPDATE taskloom_jobs
SET status = 'completed', output = %(output)s, progress = 1.0, lease_expires_at = NULL,
    updated_at = taskloom_now()
WHERE id = %(id)s AND deliveries = %(delivery)s AND status IN ('processing', 'aborting');

-- name: complete_many
-- ids repeats the ids of items so that the rows are found by primary key: the
-- planner cannot see how few rows jsonb_to_recordset yields and would scan every
-- working job (and the dead versions in their index) instead.
UPDATE taskloom_jobs AS job
SET status = 'completed', output = done.output, progress = 1.0, lease_expires_at = NULL,
    updated_at = taskloom_now()
FROM jsonb_to_recordset(%(items)s) AS done(id text, delivery integer, output jsonb)
WHERE job.id = ANY(%(ids)s::text[]) AND job.id = done.id AND job.deliveries = done.delivery
  AND job.status IN ('processing', 'aborting')
RETURNING job.id;

-- name: _claim_after_done
-- The tail of the complete-and-claim statements below, not a statement alone: it
-- closes their ``done`` CTE, claims up to ``limit`` due jobs and answers one row.
), picked AS (
    SELECT id FROM taskloom_jobs
    WHERE queue = %(queue)s AND status = 'pending' AND run_after <= taskloom_now()
    ORDER BY run_after
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE taskloom_jobs AS job
    SET status = 'processing', deliveries = job.deliveries + 1, worker_id = %(worker_id)s,
        lease_expires_at = taskloom_now() + %(lease)s, updated_at = taskloom_now()
    FROM picked WHERE job.id = picked.id
    RETURNING job.*
)
SELECT (SELECT coalesce(array_agg(done.id), '{}') FROM done) AS done_ids, claimed.*
FROM (SELECT 1) AS one LEFT JOIN claimed ON true;

-- name: complete_one_and_claim
-- A busy worker's one round trip per job: it reports the job it finished and takes
-- the next ones in one statement, so one commit serves both. The two UPDATEs touch
-- disjoint rows (a working one, pending ones). The row always comes: done_ids holds
-- the completion if it passed the fence, the job columns are NULL if nothing was due.
-- (id NULL: nothing to report, only claim.) A single completion by primary key
-- keeps the plan the same for every call, so Postgres caches it instead of planning
-- this statement again each time.
WITH done AS (
    UPDATE taskloom_jobs
    SET status = 'completed', output = %(output)s, progress = 1.0, lease_expires_at = NULL,
        updated_at = taskloom_now()
    WHERE id = %(id)s AND deliveries = %(delivery)s AND status IN ('processing', 'aborting')
    RETURNING id
-- include: _claim_after_done

-- name: complete_many_and_claim
-- complete_one_and_claim for several completions (ids: as in complete_many).
WITH done AS (
-- include: complete_many
-- include: _claim_after_done

-- name: fail
UPDATE taskloom_jobs
SET status = 'failed', error = %(error)s, error_data = %(error_data)s, attempts = attempts + 1,
    lease_expires_at = NULL,
    updated_at = taskloom_now()
WHERE id = %(id)s AND deliveries = %(delivery)s AND status IN ('processing', 'aborting');

-- name: retry
UPDATE taskloom_jobs
SET status = CASE status WHEN 'aborting' THEN 'aborted' ELSE 'pending' END,
    attempts = attempts + CASE status WHEN 'aborting' THEN 0 ELSE 1 END,
    error = %(error)s, error_data = %(error_data)s, worker_id = NULL, lease_expires_at = NULL,
    run_after = taskloom_now() + %(delay)s, updated_at = taskloom_now()
WHERE id = %(id)s AND deliveries = %(delivery)s AND status IN ('processing', 'aborting');

-- name: release
UPDATE taskloom_jobs
SET status = CASE status WHEN 'aborting' THEN 'aborted' ELSE 'pending' END,
    error = CASE status WHEN 'aborting' THEN 'aborted while its worker shut down' ELSE error END,
    error_data = CASE status WHEN 'aborting' THEN NULL ELSE error_data END,
    worker_id = NULL, lease_expires_at = NULL, updated_at = taskloom_now()
WHERE id = %(id)s AND deliveries = %(delivery)s AND status IN ('processing', 'aborting');

-- name: mark_aborted
UPDATE taskloom_jobs
SET status = 'aborted', error = %(reason)s, error_data = NULL, lease_expires_at = NULL,
    updated_at = taskloom_now()
WHERE id = %(id)s AND deliveries = %(delivery)s AND status IN ('processing', 'aborting');

-- name: reap_expired
-- A lease that ran out means the worker died: count the attempt, then
-- retry, or fail once the attempts, the delivery cap or the deadline are used up.
UPDATE taskloom_jobs
SET status = CASE
        WHEN status = 'aborting' THEN 'aborted'
        WHEN deliveries >= max_deliveries OR attempts + 1 >= max_attempts
             OR deadline <= taskloom_now() THEN 'failed'
        ELSE 'pending' END,
    error = CASE
        WHEN status = 'aborting' THEN 'aborted; its worker stopped answering'
        WHEN deliveries >= max_deliveries
            THEN %(delivery_cap)s || ' (' || deliveries || ' deliveries)'
        WHEN attempts + 1 >= max_attempts THEN %(lease_expired)s || '; no attempts left'
        WHEN deadline <= taskloom_now() THEN %(deadline_passed)s
        ELSE %(lease_expired)s END,
    error_data = NULL,
    attempts = attempts + CASE WHEN status = 'aborting' THEN 0 ELSE 1 END,
    worker_id = NULL, lease_expires_at = NULL,
    run_after = taskloom_now(), updated_at = taskloom_now()
WHERE queue = %(queue)s AND status IN ('processing', 'aborting')
  AND lease_expires_at < taskloom_now();

-- name: fail_past_deadline
UPDATE taskloom_jobs
SET status = 'failed', error = %(deadline_passed)s, error_data = NULL, updated_at = taskloom_now()
WHERE queue = %(queue)s AND status = 'pending' AND deadline <= taskloom_now();

-- name: rate_acquire
SELECT wait_seconds, now_at FROM taskloom_rate_acquire(%(limiter)s, %(max_requests)s, %(window)s);

-- name: rate_block
INSERT INTO taskloom_rate_blocks (limiter, until)
VALUES (%(limiter)s, taskloom_now() + %(seconds)s)
ON CONFLICT (limiter) DO UPDATE
SET until = greatest(taskloom_rate_blocks.until, excluded.until);

-- name: rate_clear_events
DELETE FROM taskloom_rate_events WHERE limiter = %(limiter)s;

-- name: rate_clear_blocks
DELETE FROM taskloom_rate_blocks WHERE limiter = %(limiter)s;
