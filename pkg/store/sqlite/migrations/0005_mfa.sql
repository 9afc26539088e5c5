-- Second factor (issue 12): the session's authentication methods, TOTP factors,
-- recovery codes and the pending second step of a login.

-- RFC 8176 amr values of the session, comma-separated ("pwd", "pwd,otp,mfa").
-- Sessions from before this migration were opened with a password.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

CREATE TABLE mfa_totp (
    user_id      TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BLOB    NOT NULL,               -- AES-256-GCM sealed, bound to user_id
    confirmed_at INTEGER,                        -- NULL while enrolment is pending
    last_step    INTEGER NOT NULL DEFAULT 0,     -- newest accepted time step (replay guard)
    created_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE mfa_recovery_codes (
    user_id  TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash     TEXT    NOT NULL,                   -- hex SHA-256 of the code
    used_at  INTEGER,
    PRIMARY KEY (user_id, hash)
) STRICT;

CREATE TABLE mfa_challenges (
    hash       TEXT    PRIMARY KEY,              -- hex SHA-256 of the mfa_token
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr        TEXT    NOT NULL,                 -- what the first step showed
    session_id TEXT    NOT NULL DEFAULT '',      -- step-up: the session it replaces
    user_agent TEXT    NOT NULL DEFAULT '',
    ip         TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE INDEX mfa_challenges_expires ON mfa_challenges (expires_at);
