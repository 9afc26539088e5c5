-- Second factor (issue 12): the session's authentication methods, TOTP factors,
-- recovery codes and the pending second step of a login.

-- RFC 8176 amr values of the session, comma-separated ("pwd", "pwd,otp,mfa").
-- Sessions from before this migration were opened with a password.
ALTER TABLE sessions ADD COLUMN amr text NOT NULL DEFAULT 'pwd';

CREATE TABLE mfa_totp (
    user_id      text        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       bytea       NOT NULL,          -- AES-256-GCM sealed, bound to user_id
    confirmed_at timestamptz,                   -- NULL while enrolment is pending
    last_step    bigint      NOT NULL DEFAULT 0, -- newest accepted time step (replay guard)
    created_at   timestamptz NOT NULL
);

CREATE TABLE mfa_recovery_codes (
    user_id  text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash     text        NOT NULL,              -- hex SHA-256 of the code
    used_at  timestamptz,
    PRIMARY KEY (user_id, hash)
);

CREATE TABLE mfa_challenges (
    hash       text        PRIMARY KEY,         -- hex SHA-256 of the mfa_token
    user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr        text        NOT NULL,            -- what the first step showed
    session_id text        NOT NULL DEFAULT '', -- step-up: the session it replaces
    user_agent text        NOT NULL DEFAULT '',
    ip         text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX mfa_challenges_expires ON mfa_challenges (expires_at);
