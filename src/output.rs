//! The headless JSON and NDJSON forms of flows.
