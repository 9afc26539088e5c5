-- Passkeys (WebAuthn, issue 12): a user's registered credentials, and the ceremonies
-- (registration or sign-in) begun and not finished yet.

CREATE TABLE webauthn_credentials (
    id                 bytea       PRIMARY KEY,          -- the credential id the authenticator chose
    user_id            text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name               text        NOT NULL,             -- the user's label ("laptop")
    public_key         bytea       NOT NULL,             -- COSE_Key
    sign_count         bigint      NOT NULL DEFAULT 0,   -- newest signature counter accepted
    transports         text        NOT NULL DEFAULT '',  -- comma-separated (internal,usb,hybrid…)
    aaguid             bytea       NOT NULL,             -- authenticator model (zeros for none attestation)
    attestation_format text        NOT NULL DEFAULT '',  -- none, packed…
    user_verified      boolean     NOT NULL DEFAULT false, -- the registration verified the user
    backup_eligible    boolean     NOT NULL DEFAULT false, -- BE: the key may be synced (never changes)
    backup_state       boolean     NOT NULL DEFAULT false, -- BS: the key is synced now
    created_at         timestamptz NOT NULL,
    last_used_at       timestamptz
);

CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

CREATE TABLE webauthn_ceremonies (
    hash       text        PRIMARY KEY,                  -- hex SHA-256 of the challenge
    purpose    text        NOT NULL,                     -- register, login, mfa
    user_id    text        NOT NULL DEFAULT '',          -- '' for a discoverable sign-in
    ref        text        NOT NULL DEFAULT '',          -- mfa: the mfa_token's hash; register: the session
    data       bytea       NOT NULL,                     -- the library's session data (JSON)
    expires_at timestamptz NOT NULL
);

CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);
