//! Unit tests for the transit engine.
