//! Host tests of `event_channel` (to be filled).
