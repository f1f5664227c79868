CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenant_settings (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    pin_length BIGINT NOT NULL,
    automatically_send_emails BIGINT NOT NULL,
    allow_pstn_only_meetings_by_default BIGINT NOT NULL,
    enable_entry_exit_notifications BIGINT NOT NULL,
    entry_exit_announcements_type TEXT NOT NULL,
    enable_name_recording BIGINT NOT NULL,
    allow_pstn_users_to_bypass_lobby BIGINT NOT NULL,
    lobby_wait_minutes BIGINT NOT NULL,
    display_name TEXT NOT NULL
);

CREATE TABLE service_numbers (
    number TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('toll', 'toll-free')),
    primary_language TEXT NOT NULL,
    alternate_languages TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    upn TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    primary_smtp_address TEXT,
    email_override TEXT,
    role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    password_hash TEXT,
    created_at_ms BIGINT NOT NULL,
    conf_enabled BIGINT NOT NULL DEFAULT 0,
    conference_id TEXT UNIQUE,
    service_number TEXT REFERENCES service_numbers (number),
    toll_free_service_number TEXT REFERENCES service_numbers (number),
    allow_pstn_only_meetings BIGINT NOT NULL DEFAULT 0,
    pin_hash TEXT,
    pin_version BIGINT NOT NULL DEFAULT 0,
    pin_set_at_ms BIGINT
);

-- The words a users search matches by prefix: each word of the display name and of
-- the UPN, and the whole UPN. Byte order, so a prefix is a range of the index.
CREATE TABLE user_search_terms (
    term TEXT COLLATE "C" NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (term, user_id)
);
CREATE INDEX user_search_terms_user ON user_search_terms (user_id);

-- Every conference ID in use, by a user (reserved while disabled) or a meeting:
-- the one place that makes them unique.
CREATE TABLE conference_ids (
    conference_id TEXT PRIMARY KEY,
    user_id BIGINT REFERENCES users (id),
    assigned_at_ms BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_upn TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target_upn, id);
