-- One-time password reset links (issuer user reset-link), by the hash of their token.
CREATE TABLE password_resets (
    hash       text        PRIMARY KEY,   -- hex SHA-256 of the link's token
    user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz                -- NULL until used
);

CREATE INDEX password_resets_user ON password_resets (user_id);
