-- Web sign-in sessions. Only a SHA-256 of the session cookie is stored, so a copy of
-- the database cannot be replayed as a cookie.
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

-- Failed sign-ins per account (`account:<upn>`) and per client address
-- (`address:<ip>`), and the temporary lock they lead to.
CREATE TABLE sign_in_throttle (
    subject TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_started_ms BIGINT NOT NULL,
    locked_until_ms BIGINT
);

-- One-time form tokens: the PIN reset form carries one, and a used token never
-- resets again.
CREATE TABLE web_form_tokens (
    token_hash TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    purpose TEXT NOT NULL,
    target_upn TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms BIGINT
);

-- REST API bearer tokens, stored as SHA-256 hashes.
CREATE TABLE api_tokens (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    last_used_at_ms BIGINT,
    revoked_at_ms BIGINT
);
