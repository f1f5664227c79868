-- Meetings scheduled by an organiser, each with its own conference ID (reserved in
-- conference_ids with no user, so it never collides with a user's own ID).
CREATE TABLE meetings (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conference_id TEXT NOT NULL UNIQUE REFERENCES conference_ids (conference_id),
    organizer_user_id BIGINT NOT NULL REFERENCES users (id),
    subject TEXT,
    -- NULL: inherit (the organiser's "callers can start my meetings").
    allow_anonymous_start BIGINT,
    -- NULL: inherit (the tenant's allow_pstn_users_to_bypass_lobby).
    allow_pstn_users_to_bypass_lobby BIGINT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX meetings_organizer ON meetings (organizer_user_id);

-- Live state written by the bridge, read by the CLI and the web: one row per meeting
-- that has callers (started or with a lobby only).
CREATE TABLE live_meetings (
    conference_id TEXT PRIMARY KEY,
    started_at_ms BIGINT,
    updated_at_ms BIGINT NOT NULL
);

-- Everyone connected to a live meeting. calling_number is stored masked.
CREATE TABLE live_participants (
    conference_id TEXT NOT NULL,
    participant BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('phone', 'app')),
    is_organizer BIGINT NOT NULL,
    placement TEXT NOT NULL CHECK (placement IN ('lobby', 'meeting')),
    calling_number TEXT,
    joined_at_ms BIGINT NOT NULL,
    PRIMARY KEY (conference_id, participant)
);
