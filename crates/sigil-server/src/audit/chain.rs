//! The hash chain that makes an audit file tamper-evident, and [`verify`], which checks it.
//!
//! Every line carries `"seq"` (1, 2, 3, … per device file) and `"prev"`, the lower-case hex
//! SHA-256 of the previous line's exact bytes (without its newline; 64 zeros for the first
//! line). Editing a line breaks the next line's `prev`; deleting, inserting or reordering
//! lines breaks the `seq` run; a torn last line has no newline.
//!
//! What a chain cannot detect: removal of the tail. Truncating the file after a complete line
//! (or deleting it and all lines after) leaves a shorter chain that verifies. So does
//! replacing the whole file with a freshly computed chain, since no key is involved. Both are
//! caught only by comparing with something outside the file: the `seq` and hash that
//! [`VerifySummary`] reports, recorded elsewhere (another device, a metrics scrape, a
//! ticket). Rotating a file (moving it away) starts a new chain at seq 1 in a new file.
//!
//! This module does no I/O beyond reading the `BufRead` it is given.

use std::fmt;
use std::io::{BufRead, Write};

use serde_json::{Map, Value};
use sigil_core::encoding;
use sigil_core::hash::{HashAlgorithm, digest};

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a chain stands: the seq of the last record written and the hash of its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain {
    seq: u64,
    prev: String,
}

impl Chain {
    /// A new chain: the next record is seq 1 with `prev` = [`GENESIS`].
    pub(crate) fn new() -> Self {
        Self {
            seq: 0,
            prev: GENESIS.to_owned(),
        }
    }

    /// The chain continued after `line` (a complete record, without its newline).
    pub(crate) fn after(line: &[u8]) -> Result<Self, String> {
        let rec: Map<String, Value> = serde_json::from_slice(line)
            .map_err(|_| "the last complete line is not a JSON object".to_owned())?;
        let seq = rec
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| "the last complete line has no \"seq\"".to_owned())?;
        Ok(Self {
            seq,
            prev: line_hash(line),
        })
    }

    /// Adds `seq` and `prev` to `rec`, serializes it as one line (without the newline) and
    /// advances the chain. Call [`Chain::commit`] only once the line is written, so a failed
    /// write does not leave a gap.
    pub(crate) fn seal(&self, rec: &Map<String, Value>) -> Vec<u8> {
        // A map of JSON values always serializes.
        let object = serde_json::to_vec(rec).unwrap_or_default();
        let mut line = Vec::with_capacity(object.len() + Self::SEAL_LEN);
        self.seal_json_into(&object, &mut line);
        line
    }

    /// The most sealing adds to a record: `,"prev":"<64 hex digits>","seq":<20 digits>`.
    pub(crate) const SEAL_LEN: usize = 1 + 8 + 64 + 8 + 20;

    /// [`Chain::seal`] for a record already serialized as a JSON object (`{...}`), appended
    /// to `out` (at most [`Chain::SEAL_LEN`] bytes longer than `object`): `prev` and `seq`
    /// become its last members. Callers serialize records on their own threads, so the
    /// device's writer only appends, hashes and writes, and builds a batch in one buffer.
    pub(crate) fn seal_json_into(&self, object: &[u8], out: &mut Vec<u8>) {
        let inner = object
            .strip_prefix(b"{")
            .and_then(|o| o.strip_suffix(b"}"))
            .unwrap_or_default();
        out.push(b'{');
        out.extend_from_slice(inner);
        if !inner.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"prev\":\"");
        out.extend_from_slice(self.prev.as_bytes());
        out.extend_from_slice(b"\",\"seq\":");
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{}}}", self.seq + 1);
    }

    /// Advances the chain past `line`, which was written.
    pub(crate) fn commit(&mut self, line: &[u8]) {
        self.seq += 1;
        self.prev = line_hash(line);
    }

    /// The seq of the last record.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }
}

/// Lower-case hex SHA-256 of `line`.
fn line_hash(line: &[u8]) -> String {
    encoding::hex_encode(&digest(HashAlgorithm::Sha256, line))
}

/// What a successful [`verify`] saw. Record `last_seq` and `last_hash` somewhere else to be
/// able to detect a later removal of the tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySummary {
    /// How many records the file holds.
    pub records: u64,
    /// The seq of the last record (0 for an empty file).
    pub last_seq: u64,
    /// The hex SHA-256 of the last line ([`GENESIS`] for an empty file).
    pub last_hash: String,
}

/// Why a log does not verify, and where: the first bad record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// The 1-based line number of the bad record.
    pub line: u64,
    /// The seq that line claims, if it could be read.
    pub seq: Option<u64>,
    /// What is wrong.
    pub kind: VerifyErrorKind,
}

/// What [`verify`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyErrorKind {
    /// The reader failed.
    Io(String),
    /// The line is not a JSON object.
    NotJson,
    /// The line lacks a field (`seq` as an integer, `prev` as a string).
    MissingField(&'static str),
    /// The seq is not the previous one plus one (a record deleted, inserted or moved; or,
    /// on line 1, the first records deleted).
    SeqGap {
        /// The seq the line should carry.
        expected: u64,
    },
    /// `prev` is not the hash of the previous line: that line was edited (or replaced).
    PrevMismatch,
    /// The last line has no newline: the file was cut mid-record.
    TruncatedLine,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        match &self.kind {
            VerifyErrorKind::Io(e) => write!(f, ": cannot read the log: {e}"),
            VerifyErrorKind::NotJson => f.write_str(": not a JSON object"),
            VerifyErrorKind::MissingField(name) => write!(f, ": missing field {name:?}"),
            VerifyErrorKind::SeqGap { expected } => write!(
                f,
                ": expected seq {expected}; a record was deleted, inserted or reordered"
            ),
            VerifyErrorKind::PrevMismatch => write!(
                f,
                ": \"prev\" does not match the hash of line {}; that line was edited",
                self.line.saturating_sub(1)
            ),
            VerifyErrorKind::TruncatedLine => {
                f.write_str(": the last line is incomplete; the file was cut mid-record")
            }
        }
    }
}

impl std::error::Error for VerifyError {}

/// Checks an audit log's chain from its first line: seq 1 with `prev` = [`GENESIS`], then
/// each seq one more than the last and each `prev` the hash of the line before.
pub fn verify(mut reader: impl BufRead) -> Result<VerifySummary, VerifyError> {
    let mut chain = Chain::new();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| VerifyError {
                line: line_no + 1,
                seq: None,
                kind: VerifyErrorKind::Io(e.kind().to_string()),
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let fail = |seq, kind| VerifyError {
            line: line_no,
            seq,
            kind,
        };
        let Some(line) = buf.strip_suffix(b"\n") else {
            return Err(fail(None, VerifyErrorKind::TruncatedLine));
        };
        let rec: Map<String, Value> =
            serde_json::from_slice(line).map_err(|_| fail(None, VerifyErrorKind::NotJson))?;
        let seq = rec
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| fail(None, VerifyErrorKind::MissingField("seq")))?;
        let prev = rec
            .get("prev")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(Some(seq), VerifyErrorKind::MissingField("prev")))?;
        let expected = chain.seq + 1;
        if seq != expected {
            return Err(fail(Some(seq), VerifyErrorKind::SeqGap { expected }));
        }
        if prev != chain.prev {
            return Err(fail(Some(seq), VerifyErrorKind::PrevMismatch));
        }
        chain.commit(line);
    }
    Ok(VerifySummary {
        records: line_no,
        last_seq: chain.seq,
        last_hash: chain.prev,
    })
}
