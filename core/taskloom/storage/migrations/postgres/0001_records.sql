-- Every record of every collection is one row (see storage/protocol.py).
-- Values are canonical JSON kept as text, so a record is read back byte for
-- byte as written and a damaged one is reported by key, not refused by the
-- server. Keys compare bytewise (COLLATE "C") so prefix scans are ranges.
CREATE TABLE taskloom_records (
    collection text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,
    value      text NOT NULL,
    updated_at double precision NOT NULL,
    PRIMARY KEY (collection, key)
);
CREATE INDEX taskloom_records_age ON taskloom_records (collection, updated_at);
