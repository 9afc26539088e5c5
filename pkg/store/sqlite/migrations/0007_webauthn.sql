-- Passkeys (WebAuthn, issue 12): a user's registered credentials, and the ceremonies
-- (registration or sign-in) begun and not finished yet.

CREATE TABLE webauthn_credentials (
    id                 BLOB    PRIMARY KEY,              -- the credential id the authenticator chose
    user_id            TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name               TEXT    NOT NULL,                 -- the user's label ("laptop")
    public_key         BLOB    NOT NULL,                 -- COSE_Key
    sign_count         INTEGER NOT NULL DEFAULT 0,       -- newest signature counter accepted
    transports         TEXT    NOT NULL DEFAULT '',      -- comma-separated (internal,usb,hybrid…)
    aaguid             BLOB    NOT NULL,                 -- authenticator model (zeros for none attestation)
    attestation_format TEXT    NOT NULL DEFAULT '',      -- none, packed…
    user_verified      INTEGER NOT NULL DEFAULT 0,       -- the registration verified the user
    backup_eligible    INTEGER NOT NULL DEFAULT 0,       -- BE: the key may be synced (never changes)
    backup_state       INTEGER NOT NULL DEFAULT 0,       -- BS: the key is synced now
    created_at         INTEGER NOT NULL,
    last_used_at       INTEGER
) STRICT;

CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

CREATE TABLE webauthn_ceremonies (
    hash       TEXT    PRIMARY KEY,                      -- hex SHA-256 of the challenge
    purpose    TEXT    NOT NULL,                         -- register, login, mfa
    user_id    TEXT    NOT NULL DEFAULT '',              -- '' for a discoverable sign-in
    ref        TEXT    NOT NULL DEFAULT '',              -- mfa: the mfa_token's hash; register: the session
    data       BLOB    NOT NULL,                         -- the library's session data (JSON)
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);
