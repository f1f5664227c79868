-- Wrong organiser PINs entered by phone, per organiser (`organiser:<upn>`) and per
-- calling number (`caller:<number>`), and the lock they lead to. `locks` counts the
-- locks in a row: each lasts twice as long as the one before, up to a limit.
CREATE TABLE phone_pin_throttle (
    subject TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_started_ms INTEGER NOT NULL,
    locked_until_ms INTEGER,
    locks INTEGER NOT NULL DEFAULT 0
);

-- Sign-in locks share the throttle code, and so its columns.
ALTER TABLE sign_in_throttle ADD COLUMN locks INTEGER NOT NULL DEFAULT 0;
