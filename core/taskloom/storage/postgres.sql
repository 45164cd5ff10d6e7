-- SQL of the Postgres backend (taskloom/storage/postgres.py). The schema is
-- in migrations/postgres/NNNN_*.sql, applied in order and recorded in
-- taskloom_schema_version.

-- name: lock_migrations
SELECT pg_advisory_xact_lock(hashtext('taskloom.storage.migrations'))

-- name: create_version_table
CREATE TABLE IF NOT EXISTS taskloom_schema_version (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)

-- name: applied_versions
SELECT version FROM taskloom_schema_version

-- name: record_version
INSERT INTO taskloom_schema_version (version, name) VALUES (%s, %s)

-- name: get
SELECT value FROM taskloom_records WHERE collection = %s AND key = %s

-- name: get_many
SELECT key, value FROM taskloom_records WHERE collection = %s AND key = ANY(%s)

-- name: put
INSERT INTO taskloom_records (collection, key, value, updated_at) VALUES (%s, %s, %s, %s)
ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at

-- name: delete
DELETE FROM taskloom_records WHERE collection = %s AND key = %s

-- name: keys_from
SELECT key FROM taskloom_records WHERE collection = %s AND key >= %s ORDER BY key

-- name: keys_between
SELECT key FROM taskloom_records WHERE collection = %s AND key >= %s AND key < %s ORDER BY key

-- name: scan_from
SELECT key, value, updated_at FROM taskloom_records
WHERE collection = %s AND key >= %s ORDER BY key

-- name: scan_between
SELECT key, value, updated_at FROM taskloom_records
WHERE collection = %s AND key >= %s AND key < %s ORDER BY key

-- name: count
SELECT count(*) FROM taskloom_records WHERE collection = %s

-- name: size
SELECT coalesce(sum(octet_length(value)), 0) FROM taskloom_records WHERE collection = %s

-- name: clear_from
DELETE FROM taskloom_records WHERE collection = %s AND key >= %s

-- name: clear_between
DELETE FROM taskloom_records WHERE collection = %s AND key >= %s AND key < %s

-- name: delete_older_than
DELETE FROM taskloom_records WHERE collection = %s AND updated_at < %s

-- name: insert_if_absent
INSERT INTO taskloom_records (collection, key, value, updated_at) VALUES (%s, %s, %s, %s)
ON CONFLICT (collection, key) DO NOTHING

-- name: replace_if
UPDATE taskloom_records SET value = %s, updated_at = %s
WHERE collection = %s AND key = %s AND value = %s

-- name: delete_if
DELETE FROM taskloom_records WHERE collection = %s AND key = %s AND value = %s
