-- One-time password reset links (issuer user reset-link), by the hash of their token.
CREATE TABLE password_resets (
    hash       TEXT    PRIMARY KEY,       -- hex SHA-256 of the link's token
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER                    -- NULL until used
) STRICT;

CREATE INDEX password_resets_user ON password_resets (user_id);
