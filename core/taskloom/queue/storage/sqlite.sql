-- Queue and rate-limit storage for SQLite. Times are epoch seconds on
-- SQLite's own clock: (julianday('now') - 2440587.5) * 86400.0, which keeps
-- milliseconds (unixepoch('subsec') needs SQLite 3.42).
--
-- The schema only grows, and ``setup`` grows an older table in place: a
-- column added since the first release is listed under "columns added", and
-- ``setup`` adds each one a table lacks (SQLite has no ADD COLUMN IF NOT
-- EXISTS: ``setup`` lets "duplicate column name" pass). The file may hold a store's tables too, so PRAGMA user_version,
-- which the store uses, is not the queue's to take.

-- name: schema
CREATE TABLE IF NOT EXISTS taskloom_jobs (
    id               TEXT PRIMARY KEY,
    queue            TEXT NOT NULL,
    task_type        TEXT NOT NULL,
    input            TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    deliveries       INTEGER NOT NULL DEFAULT 0,
    max_deliveries   INTEGER NOT NULL,
    run_after        REAL NOT NULL,
    deadline         REAL,
    lease_expires_at REAL,
    worker_id        TEXT,
    progress         REAL NOT NULL DEFAULT 0,
    progress_message TEXT,
    output           TEXT,
    error            TEXT,
    error_data       TEXT,
    run_id           TEXT,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL
);
-- The claim reads only this index: due pending jobs of one queue, oldest first.
CREATE INDEX IF NOT EXISTS taskloom_jobs_claim
    ON taskloom_jobs (queue, run_after) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS taskloom_jobs_lease
    ON taskloom_jobs (queue, lease_expires_at) WHERE status IN ('processing', 'aborting');
-- De-duplication: one active job per (queue, fingerprint).
CREATE UNIQUE INDEX IF NOT EXISTS taskloom_jobs_fingerprint
    ON taskloom_jobs (queue, fingerprint) WHERE status NOT IN ('failed', 'aborted');
CREATE INDEX IF NOT EXISTS taskloom_jobs_queue_status ON taskloom_jobs (queue, status);
CREATE INDEX IF NOT EXISTS taskloom_jobs_run ON taskloom_jobs (run_id) WHERE run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS taskloom_rate_events (
    limiter TEXT NOT NULL,
    at      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS taskloom_rate_events_window ON taskloom_rate_events (limiter, at);
CREATE TABLE IF NOT EXISTS taskloom_rate_blocks (
    limiter TEXT PRIMARY KEY,
    until   REAL NOT NULL
);

-- name: columns_added
-- error_data: the failure as JSON (type, message, retryable, retry_after, details).
ALTER TABLE taskloom_jobs ADD COLUMN error_data TEXT;

-- name: now
SELECT (julianday('now') - 2440587.5) * 86400.0;

-- name: insert
INSERT INTO taskloom_jobs (id, queue, task_type, input, fingerprint, status, attempts,
    max_attempts, deliveries, max_deliveries, run_after, deadline, run_id, created_at, updated_at)
SELECT :id, :queue, :task_type, :input, :fingerprint, 'pending', 0, :max_attempts, 0,
    :max_deliveries, clock.now + :delay, clock.now + :timeout, :run_id, clock.now, clock.now
FROM (SELECT (julianday('now') - 2440587.5) * 86400.0 AS now) AS clock
WHERE true  -- lets SQLite parse the ON CONFLICT clause after a SELECT
ON CONFLICT (queue, fingerprint) WHERE status NOT IN ('failed', 'aborted') DO NOTHING
RETURNING *;

-- name: get_active_by_fingerprint
SELECT * FROM taskloom_jobs
WHERE queue = :queue AND fingerprint = :fingerprint AND status NOT IN ('failed', 'aborted');

-- name: get
SELECT * FROM taskloom_jobs WHERE id = :id;

-- name: abort_one
UPDATE taskloom_jobs
SET status = CASE status WHEN 'pending' THEN 'aborted' ELSE 'aborting' END,
    error = CASE status WHEN 'pending' THEN 'aborted before it started' ELSE error END,
    error_data = CASE status WHEN 'pending' THEN NULL ELSE error_data END,
    updated_at = (julianday('now') - 2440587.5) * 86400.0
WHERE id = :id AND status IN ('pending', 'processing')
RETURNING *;

-- name: abort_run
UPDATE taskloom_jobs
SET status = CASE status WHEN 'pending' THEN 'aborted' ELSE 'aborting' END,
    error = CASE status WHEN 'pending' THEN 'aborted before it started' ELSE error END,
    error_data = CASE status WHEN 'pending' THEN NULL ELSE error_data END,
    updated_at = (julianday('now') - 2440587.5) * 86400.0
WHERE run_id = :run_id AND (:queue IS NULL OR queue = :queue)
  AND status IN ('pending', 'processing')
RETURNING id;

-- name: list
SELECT * FROM taskloom_jobs
WHERE queue = :queue AND (:status IS NULL OR status = :status)
  AND (:run_id IS NULL OR run_id = :run_id)
ORDER BY created_at, id LIMIT :limit;

-- name: stats
SELECT status, count(*) FROM taskloom_jobs WHERE queue = :queue GROUP BY status;

-- name: clear
DELETE FROM taskloom_jobs WHERE queue = :queue RETURNING id;

-- name: output_for
SELECT output FROM taskloom_jobs
WHERE queue = :queue AND fingerprint = :fingerprint AND status = 'completed';

-- name: claim
UPDATE taskloom_jobs
SET status = 'processing', deliveries = deliveries + 1, worker_id = :worker_id,
    lease_expires_at = (julianday('now') - 2440587.5) * 86400.0 + :lease,
    updated_at = (julianday('now') - 2440587.5) * 86400.0
WHERE id IN (
    SELECT id FROM taskloom_jobs
    WHERE queue = :queue AND status = 'pending'
      AND run_after <= (julianday('now') - 2440587.5) * 86400.0
    ORDER BY run_after
    LIMIT :limit)
RETURNING *;

-- name: seconds_until_due
SELECT min(run_after) - (julianday('now') - 2440587.5) * 86400.0
FROM taskloom_jobs WHERE queue = :queue AND status = 'pending';

-- name: heartbeat
UPDATE taskloom_jobs
SET lease_expires_at = (julianday('now') - 2440587.5) * 86400.0 + :lease
WHERE id = :id AND deliveries = :delivery AND status IN ('processing', 'aborting')
RETURNING status;

-- name: set_progress
UPDATE taskloom_jobs SET progress = :fraction, progress_message = :message
WHERE id = :id AND deliveries = :delivery AND status IN ('processing', 'aborting');

-- name: complete
UPDATE taskloom_jobs
SET status = 'completed', output = :output, progress = 1.0, lease_expires_at = NULL,
    updated_at = (julianday('now') - 2440587.5) * 86400.0
WHERE id = :id AND deliveries = :delivery AND status IN ('processing', 'aborting');

-- name: fail
UPDATE taskloom_jobs
SET status = 'failed', error = :error, error_data = :error_data, attempts = attempts + 1,
    lease_expires_at = NULL,
    updated_at = (julianday('now') - 2440587.5) * 86400.0
WHERE id = :id AND deliveries = :delivery AND status IN ('processing', 'aborting');

-- name: retry
UPDATE taskloom_jobs
SET status = CASE status WHEN 'aborting' THEN 'aborted' ELSE 'pending' END,
    attempts = attempts + CASE status WHEN 'aborting' THEN 0 ELSE 1 END,
    error = :error, error_data = :error_data, worker_id = NULL, lease_expires_at = NULL,
    run_after = (julianday('now') - 2440587.5) * 86400.0 + :delay,
    updated_at = (julianday('now') - 2440587.5) * 86400.0
WHERE id = :id AND deliveries = :delivery AND status IN ('processing', 'aborting');

-- name: release
UPDATE taskloom_jobs
SET status = CASE status WHEN 'aborting' THEN 'aborted' ELSE 'pending' END,
    error = CASE status WHEN 'aborting' THEN 'aborted while its worker shut down' ELSE error END,
    error_data = CASE status WHEN 'aborting' THEN NULL ELSE error_data END,
    worker_id = NULL, lease_expires_at = NULL,
    updated_at = (julianday('now') - 2440587.5) * 86400.0
WHERE id = :id AND deliveries = :delivery AND status IN ('processing', 'aborting');

-- name: mark_aborted
UPDATE taskloom_jobs
SET status = 'aborted', error = :reason, error_data = NULL, lease_expires_at = NULL,
    updated_at = (julianday('now') - 2440587.5) * 86400.0
WHERE id = :id AND deliveries = :delivery AND status IN ('processing', 'aborting');

-- name: reap_expired
-- A lease that ran out means the worker died: count the attempt, then
-- retry, or fail once the attempts, the delivery cap or the deadline are used up.
UPDATE taskloom_jobs
SET status = CASE
        WHEN status = 'aborting' THEN 'aborted'
        WHEN deliveries >= max_deliveries OR attempts + 1 >= max_attempts
             OR deadline <= (julianday('now') - 2440587.5) * 86400.0 THEN 'failed'
        ELSE 'pending' END,
    error = CASE
        WHEN status = 'aborting' THEN 'aborted; its worker stopped answering'
        WHEN deliveries >= max_deliveries THEN :delivery_cap || ' (' || deliveries || ' deliveries)'
        WHEN attempts + 1 >= max_attempts THEN :lease_expired || '; no attempts left'
        WHEN deadline <= (julianday('now') - 2440587.5) * 86400.0 THEN :deadline_passed
        ELSE :lease_expired END,
    error_data = NULL,
    attempts = attempts + CASE WHEN status = 'aborting' THEN 0 ELSE 1 END,
    worker_id = NULL, lease_expires_at = NULL,
    run_after = (julianday('now') - 2440587.5) * 86400.0,
    updated_at = (julianday('now') - 2440587.5) * 86400.0
WHERE queue = :queue AND status IN ('processing', 'aborting')
  AND lease_expires_at < (julianday('now') - 2440587.5) * 86400.0
RETURNING id;

-- name: fail_past_deadline
UPDATE taskloom_jobs
SET status = 'failed', error = :deadline_passed, error_data = NULL,
    updated_at = (julianday('now') - 2440587.5) * 86400.0
WHERE queue = :queue AND status = 'pending'
  AND deadline <= (julianday('now') - 2440587.5) * 86400.0
RETURNING id;

-- name: rate_blocked_until
SELECT until FROM taskloom_rate_blocks WHERE limiter = :limiter;

-- name: rate_forget_old
DELETE FROM taskloom_rate_events WHERE limiter = :limiter AND at <= :now - :window;

-- name: rate_window
SELECT count(*), min(at) FROM taskloom_rate_events WHERE limiter = :limiter;

-- name: rate_take
INSERT INTO taskloom_rate_events (limiter, at) VALUES (:limiter, :now);

-- name: rate_block
INSERT INTO taskloom_rate_blocks (limiter, until)
VALUES (:limiter, (julianday('now') - 2440587.5) * 86400.0 + :seconds)
ON CONFLICT (limiter) DO UPDATE SET until = max(until, excluded.until);

-- name: rate_clear_events
DELETE FROM taskloom_rate_events WHERE limiter = :limiter;

-- name: rate_clear_blocks
DELETE FROM taskloom_rate_blocks WHERE limiter = :limiter;
