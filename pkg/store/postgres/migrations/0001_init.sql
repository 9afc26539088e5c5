-- vexen-auth schema, version 1 (PostgreSQL).

CREATE TABLE users (
    id            text        PRIMARY KEY,
    email         text        NOT NULL,           -- as given
    -- The lower-cased email, computed by the store (Go's strings.ToLower) so that
    -- PostgreSQL and SQLite agree on which emails collide, whatever the database's
    -- collation. Unique: emails are unique case-insensitively.
    email_key     text        NOT NULL,
    password_hash text        NOT NULL,
    roles         text[]      NOT NULL DEFAULT '{}',
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL
);

CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE sessions (
    id           text        PRIMARY KEY,
    user_id      text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    user_agent   text        NOT NULL DEFAULT '',
    ip           text        NOT NULL DEFAULT ''
);

CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- One row per issued token pair.
CREATE TABLE refresh_tokens (
    hash              text        PRIMARY KEY,    -- hex SHA-256 of the refresh token
    session_id        text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    parent_hash       text,                       -- NULL for a session's first token
    access_hash       text        NOT NULL DEFAULT '',
    access_expires_at timestamptz,
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    used_at           timestamptz                 -- first rotation; NULL until then
);

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id, created_at);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- The revocation log: one row per revoked session.
--
-- seq is not a sequence (bigserial): sequence values are handed out at INSERT time but
-- become visible at COMMIT, so two concurrent revocations can commit out of order, and
-- a verifier that has read up to seq 11 would never see seq 10 committing after it.
-- Instead every revoking transaction takes the next numbers from the one row of
-- revocation_counter (UPDATE … RETURNING), which holds that row's lock until COMMIT:
-- appends are serialized, seq order is commit order, a rolled-back append gives its
-- numbers back, and the log has no gaps.
CREATE TABLE revocations (
    seq        bigint      PRIMARY KEY,
    session_id text        NOT NULL,
    user_id    text        NOT NULL,
    reason     text        NOT NULL,
    at         timestamptz NOT NULL
);

CREATE INDEX revocations_at ON revocations (at);

CREATE TABLE revocation_counter (
    id       integer PRIMARY KEY CHECK (id = 1),
    last_seq bigint  NOT NULL
);

INSERT INTO revocation_counter (id, last_seq) VALUES (1, 0);
