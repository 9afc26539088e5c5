-- Federated sign-in (OpenID Connect, issue 11).
-- federated_sessions: which provider session a session was opened from, so that a
-- back-channel logout (by the provider's sid, else by its subject) finds it.
CREATE TABLE federated_sessions (
    session_id   text NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    provider     text NOT NULL,
    subject      text NOT NULL,
    provider_sid text NOT NULL DEFAULT ''
);

CREATE INDEX federated_sessions_subject ON federated_sessions (provider, subject);
CREATE INDEX federated_sessions_sid ON federated_sessions (provider, provider_sid) WHERE provider_sid <> '';

-- The jti of every logout token accepted, until it expires: a replay is refused.
CREATE TABLE logout_jtis (
    provider   text        NOT NULL,
    jti        text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (provider, jti)
);

CREATE INDEX logout_jtis_expires ON logout_jtis (expires_at);
