-- name: has_pgvector
SELECT
    EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') AS installed,
    EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available

-- name: create_pgvector_extension
CREATE EXTENSION IF NOT EXISTS vector

-- name: create_plain
CREATE TABLE IF NOT EXISTS taskloom_vectors (
    collection text NOT NULL,
    id text NOT NULL,
    text text NOT NULL,
    metadata jsonb NOT NULL,
    embedding real[] NOT NULL,
    norm double precision NOT NULL,
    PRIMARY KEY (collection, id)
)

-- name: dimension_plain
SELECT cardinality(embedding) FROM taskloom_vectors WHERE collection = %s LIMIT 1

-- name: create_load
-- Upserts arrive by COPY into this per-session table, then move in one statement.
CREATE TEMPORARY TABLE IF NOT EXISTS taskloom_vectors_load (
    ord bigint NOT NULL,
    id text NOT NULL,
    text text NOT NULL,
    metadata jsonb NOT NULL,
    embedding real[] NOT NULL,
    norm double precision NOT NULL
) ON COMMIT DELETE ROWS

-- name: copy_load
COPY taskloom_vectors_load (ord, id, text, metadata, embedding, norm) FROM STDIN (FORMAT BINARY)

-- name: upsert_plain
-- DISTINCT ON: an id twice in one batch keeps its last item, as a loop of upserts would.
INSERT INTO taskloom_vectors (collection, id, text, metadata, embedding, norm)
SELECT DISTINCT ON (id) %s, id, text, metadata, embedding, norm
FROM taskloom_vectors_load ORDER BY id, ord DESC
ON CONFLICT (collection, id) DO UPDATE SET
    text = excluded.text, metadata = excluded.metadata,
    embedding = excluded.embedding, norm = excluded.norm

-- name: search_plain
-- The cosine, in SQL: the dot product over the zipped arrays, over both norms.
SELECT id, text, metadata, score FROM (
    SELECT id, text, metadata,
           coalesce((SELECT sum(a::double precision * b)
                     FROM unnest(embedding, %(query)s::real[]) AS pair (a, b))
                    / nullif(norm * %(query_norm)s, 0), 0) AS score
    FROM taskloom_vectors
    WHERE collection = %(collection)s AND metadata @> %(filter)s::jsonb
) AS scored
ORDER BY score DESC, id
LIMIT %(k)s

-- name: delete_plain
DELETE FROM taskloom_vectors WHERE collection = %s AND id = ANY(%s)

-- name: count_plain
SELECT count(*) FROM taskloom_vectors WHERE collection = %s

-- name: create_pgvector
CREATE TABLE IF NOT EXISTS taskloom_pgvectors (
    collection text NOT NULL,
    id text NOT NULL,
    text text NOT NULL,
    metadata jsonb NOT NULL,
    embedding vector NOT NULL,
    PRIMARY KEY (collection, id)
)

-- name: dimension_pgvector
SELECT vector_dims(embedding) FROM taskloom_pgvectors WHERE collection = %s LIMIT 1

-- name: upsert_pgvector
INSERT INTO taskloom_pgvectors (collection, id, text, metadata, embedding)
SELECT DISTINCT ON (id) %s, id, text, metadata, embedding::vector
FROM taskloom_vectors_load ORDER BY id, ord DESC
ON CONFLICT (collection, id) DO UPDATE SET
    text = excluded.text, metadata = excluded.metadata, embedding = excluded.embedding

-- name: search_pgvector
SELECT id, text, metadata,
       coalesce(1 - (embedding <=> %(query)s::real[]::vector), 0) AS score
FROM taskloom_pgvectors
WHERE collection = %(collection)s AND metadata @> %(filter)s::jsonb
ORDER BY embedding <=> %(query)s::real[]::vector, id
LIMIT %(k)s

-- name: delete_pgvector
DELETE FROM taskloom_pgvectors WHERE collection = %s AND id = ANY(%s)

-- name: count_pgvector
SELECT count(*) FROM taskloom_pgvectors WHERE collection = %s
