-- Retention (PruneExpired): find the sessions revoked before a time without a scan.
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
