//! Meetings and their rules: who starts a meeting, who waits in the lobby, who admits.
