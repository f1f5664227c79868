CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenant_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pin_length INTEGER NOT NULL,
    automatically_send_emails INTEGER NOT NULL,
    allow_pstn_only_meetings_by_default INTEGER NOT NULL,
    enable_entry_exit_notifications INTEGER NOT NULL,
    entry_exit_announcements_type TEXT NOT NULL,
    enable_name_recording INTEGER NOT NULL,
    allow_pstn_users_to_bypass_lobby INTEGER NOT NULL,
    lobby_wait_minutes INTEGER NOT NULL,
    display_name TEXT NOT NULL
);

CREATE TABLE service_numbers (
    number TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('toll', 'toll-free')),
    primary_language TEXT NOT NULL,
    alternate_languages TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    upn TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    primary_smtp_address TEXT,
    email_override TEXT,
    role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    password_hash TEXT,
    created_at_ms INTEGER NOT NULL,
    conf_enabled INTEGER NOT NULL DEFAULT 0,
    conference_id TEXT UNIQUE,
    service_number TEXT REFERENCES service_numbers (number),
    toll_free_service_number TEXT REFERENCES service_numbers (number),
    allow_pstn_only_meetings INTEGER NOT NULL DEFAULT 0,
    pin_hash TEXT,
    pin_version INTEGER NOT NULL DEFAULT 0,
    pin_set_at_ms INTEGER
);

-- The words a users search matches by prefix: each word of the display name and of
-- the UPN, and the whole UPN. Byte order, so a prefix is a range of the index.
CREATE TABLE user_search_terms (
    term TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (term, user_id)
);
CREATE INDEX user_search_terms_user ON user_search_terms (user_id);

-- Every conference ID in use, by a user (reserved while disabled) or a meeting:
-- the one place that makes them unique.
CREATE TABLE conference_ids (
    conference_id TEXT PRIMARY KEY,
    user_id INTEGER REFERENCES users (id),
    assigned_at_ms INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_upn TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target_upn, id);
