-- vexen-auth schema, version 1 (SQLite).
-- Times are INTEGER microseconds since the Unix epoch (UTC), the precision PostgreSQL's
-- timestamptz keeps, so both backends round-trip the same values. NULL means "never"
-- (used_at, revoked_at) or "unknown" (access_expires_at).

CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    email         TEXT    NOT NULL,             -- as given
    email_key     TEXT    NOT NULL UNIQUE,      -- lower-cased email, set by the store
    password_hash TEXT    NOT NULL,
    roles         TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    user_agent   TEXT    NOT NULL DEFAULT '',
    ip           TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- One row per issued token pair.
CREATE TABLE refresh_tokens (
    hash              TEXT    PRIMARY KEY,      -- hex SHA-256 of the refresh token
    session_id        TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    parent_hash       TEXT,                     -- NULL for a session's first token
    access_hash       TEXT    NOT NULL DEFAULT '',
    access_expires_at INTEGER,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    used_at           INTEGER                   -- first rotation; NULL until then
) STRICT;

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id, created_at);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- The revocation log: one row per revoked session. seq is assigned from
-- revocation_counter inside the revoking transaction (SQLite has one writer at a
-- time, so seq order is commit order), and is never reused after pruning.
CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY,
    session_id TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    at         INTEGER NOT NULL
) STRICT;

CREATE INDEX revocations_at ON revocations (at);

CREATE TABLE revocation_counter (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
) STRICT;

INSERT INTO revocation_counter (id, last_seq) VALUES (1, 0);
