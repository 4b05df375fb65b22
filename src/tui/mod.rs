//! The terminal UI: application state, one `Action` enum, one `update`, views that only read state.
