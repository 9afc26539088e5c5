-- Federated sign-in (OpenID Connect, issue 11).
-- federated_sessions: which provider session a session was opened from, so that a
-- back-channel logout (by the provider's sid, else by its subject) finds it.
CREATE TABLE federated_sessions (
    session_id   TEXT NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    provider_sid TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX federated_sessions_subject ON federated_sessions (provider, subject);
CREATE INDEX federated_sessions_sid ON federated_sessions (provider, provider_sid) WHERE provider_sid <> '';

-- The jti of every logout token accepted, until it expires: a replay is refused.
CREATE TABLE logout_jtis (
    provider   TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (provider, jti)
) STRICT;

CREATE INDEX logout_jtis_expires ON logout_jtis (expires_at);
