//! Tests of both KV engines.
