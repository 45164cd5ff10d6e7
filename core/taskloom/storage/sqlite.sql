-- SQL of the SQLite backend (taskloom/storage/sqlite.py).
-- Every record of every collection is one row. Values are canonical JSON
-- text; updated_at is epoch seconds from the store's clock. Keys compare
-- bytewise (BINARY), which prefix scans rely on.

-- name: schema
CREATE TABLE IF NOT EXISTS taskloom_records (
    collection TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (collection, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS taskloom_records_age ON taskloom_records (collection, updated_at);
PRAGMA user_version = 1;

-- name: get
SELECT value FROM taskloom_records WHERE collection = ? AND key = ?

-- name: get_many
SELECT key, value FROM taskloom_records
WHERE collection = ? AND key IN (SELECT value FROM json_each(?))

-- name: put
INSERT INTO taskloom_records (collection, key, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at

-- name: delete
DELETE FROM taskloom_records WHERE collection = ? AND key = ?

-- name: keys_from
SELECT key FROM taskloom_records WHERE collection = ? AND key >= ? ORDER BY key

-- name: keys_between
SELECT key FROM taskloom_records WHERE collection = ? AND key >= ? AND key < ? ORDER BY key

-- name: scan_from
SELECT key, value, updated_at FROM taskloom_records
WHERE collection = ? AND key >= ? ORDER BY key

-- name: scan_between
SELECT key, value, updated_at FROM taskloom_records
WHERE collection = ? AND key >= ? AND key < ? ORDER BY key

-- name: count
SELECT count(*) FROM taskloom_records WHERE collection = ?

-- name: size
SELECT coalesce(sum(length(CAST(value AS BLOB))), 0) FROM taskloom_records WHERE collection = ?

-- name: clear_from
DELETE FROM taskloom_records WHERE collection = ? AND key >= ?

-- name: clear_between
DELETE FROM taskloom_records WHERE collection = ? AND key >= ? AND key < ?

-- name: delete_older_than
DELETE FROM taskloom_records WHERE collection = ? AND updated_at < ?

-- name: insert_if_absent
INSERT INTO taskloom_records (collection, key, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (collection, key) DO NOTHING

-- name: replace_if
UPDATE taskloom_records SET value = ?, updated_at = ?
WHERE collection = ? AND key = ? AND value = ?

-- name: delete_if
DELETE FROM taskloom_records WHERE collection = ? AND key = ? AND value = ?
