-- Revocation sync state (issue 9): a log row is "synced" once the issuer has written
-- it through to Redis (revoked:{h} for the session's live tokens, access_token:{h}
-- deleted) and published its event. Rows whose write-through failed, or that were
-- written without Redis (an admin command run without REDIS_URL), stay NULL until
-- the issuer's repair job has done it. Rows from before this migration are NULL too:
-- the job re-syncs those still inside the revocation window, which is harmless.
ALTER TABLE revocations ADD COLUMN synced_at timestamptz;

CREATE INDEX revocations_unsynced ON revocations (at) WHERE synced_at IS NULL;
