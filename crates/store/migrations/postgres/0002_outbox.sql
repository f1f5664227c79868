-- The email outbox: one row per conferencing email, written in the same transaction
-- as the change that caused it. `content` holds what the email says (including the
-- PIN where the kind carries it), encrypted with a key derived from the server key;
-- it is set to NULL once the email is delivered or has failed. The other columns stay
-- for the audit trail.
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    user_upn TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    created_at_ms BIGINT NOT NULL,
    queued_at_ms BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    lease_until_ms BIGINT,
    lease_token TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at_ms BIGINT,
    failed_at_ms BIGINT,
    carries_pin BIGINT NOT NULL,
    content BYTEA
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at_ms);
CREATE INDEX outbox_lease ON outbox (status, lease_until_ms);
