-- name: create
CREATE TABLE IF NOT EXISTS taskloom_vectors (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID

-- name: dimension
SELECT dimension FROM taskloom_vectors WHERE collection = ? LIMIT 1

-- name: upsert
INSERT INTO taskloom_vectors (collection, id, text, metadata, dimension, vector)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (collection, id) DO UPDATE SET
    text = excluded.text, metadata = excluded.metadata,
    dimension = excluded.dimension, vector = excluded.vector

-- name: candidates
SELECT id, vector FROM taskloom_vectors WHERE collection = ?

-- name: filter_clause
AND json_extract(metadata, ?) = ?

-- name: fetch
SELECT text, metadata FROM taskloom_vectors WHERE collection = ? AND id = ?

-- name: delete
DELETE FROM taskloom_vectors WHERE collection = ? AND id = ?

-- name: count
SELECT count(*) FROM taskloom_vectors WHERE collection = ?
