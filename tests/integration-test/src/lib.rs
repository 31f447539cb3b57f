//! Helpers for the integration tests: start the agent, collect its events.
