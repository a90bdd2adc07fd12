//! Makes the `:authority` of Unix-socket clients acceptable to the HTTP/2 server.
//!
//! grpcio (C-core, under py-spiffe) and grpc-java send the socket path, percent-encoded, as
//! the `:authority` of every request on a Unix socket (`tmp%2Fagent%2Fapi.sock`). The h2
//! crate under tonic accepts only a URI authority there and resets such streams with
//! PROTOCOL_ERROR, so those clients could not use the Workload API at all. The authority
//! means nothing on a Unix socket (the agent serves every request alike), so this filter,
//! sitting on the bytes a client sends, rewrites an invalid `:authority` value into a
//! harmless one of the same length before h2 decodes it.
//!
//! Only what is needed is parsed: the connection preface, frame headers, and in HEADERS
//! (with their CONTINUATION frames) the boundaries of each HPACK representation. A literal
//! whose name is `:authority` (as a string, grpcio's form, or as the static table's first
//! entry) and whose value is not a valid authority is re-encoded with every byte other
//! than `[A-Za-z0-9.-]` replaced by `-`. The length is kept so the client's and the
//! server's HPACK dynamic tables keep the same sizes, and a later indexed reference finds
//! the rewritten value. Anything else, and anything that does not parse, passes through
//! unchanged: h2 then judges it as before.

use tonic::codegen::http::uri::Authority;

/// The HTTP/2 client connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The largest frame a client may send before the server raises SETTINGS_MAX_FRAME_SIZE
/// (tonic does not): a rewritten HEADERS frame must fit in it.
const MAX_FRAME: usize = 16_384;
/// A header block held across CONTINUATION frames is given up on (passed through) past
/// this size.
const MAX_HELD: usize = 1 << 20;

/// The filter's state for one connection, fed the bytes the client sent.
#[derive(Debug, Default)]
pub(crate) struct AuthorityFilter {
    /// Bytes received and not yet released.
    pending: Vec<u8>,
    /// How much of the preface has passed.
    preface_seen: usize,
    /// Frames of a header block still waiting for END_HEADERS (whole frames, verbatim).
    held: Vec<u8>,
    /// Something did not parse: pass the rest of the connection through.
    passthrough: bool,
}

impl AuthorityFilter {
    /// Takes `input` and appends to `out` whatever can be released.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.passthrough {
            out.extend_from_slice(input);
            return;
        }
        self.pending.extend_from_slice(input);
        if self.preface_seen < PREFACE.len() {
            let n = (PREFACE.len() - self.preface_seen).min(self.pending.len());
            if self.pending[..n] != PREFACE[self.preface_seen..self.preface_seen + n] {
                return self.give_up(out);
            }
            out.extend(self.pending.drain(..n));
            self.preface_seen += n;
        }
        while self.pending.len() >= FRAME_HEADER {
            let len = usize::from(self.pending[0]) << 16
                | usize::from(self.pending[1]) << 8
                | usize::from(self.pending[2]);
            if self.pending.len() < FRAME_HEADER + len {
                if len > MAX_HELD {
                    return self.give_up(out);
                }
                break;
            }
            let frame: Vec<u8> = self.pending.drain(..FRAME_HEADER + len).collect();
            self.frame(&frame, out);
            if self.passthrough {
                return self.give_up(out);
            }
        }
    }

    /// The client closed its side: releases whatever is left.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        self.give_up(out);
    }

    /// Releases everything held and passes the rest of the connection through.
    fn give_up(&mut self, out: &mut Vec<u8>) {
        self.passthrough = true;
        out.append(&mut self.held);
        out.append(&mut self.pending);
    }

    fn frame(&mut self, frame: &[u8], out: &mut Vec<u8>) {
        let kind = frame[3];
        let flags = frame[4];
        let continues = !self.held.is_empty();
        if kind != HEADERS && !continues {
            out.extend_from_slice(frame);
            return;
        }
        if (kind == HEADERS && continues) || (kind != HEADERS && kind != CONTINUATION) {
            // Out of order: not ours to judge.
            self.held.extend_from_slice(frame);
            self.passthrough = true;
            return;
        }
        self.held.extend_from_slice(frame);
        if flags & END_HEADERS == 0 {
            if self.held.len() > MAX_HELD {
                self.passthrough = true;
            }
            return;
        }
        let frames = std::mem::take(&mut self.held);
        match rewrite_header_frames(&frames) {
            Some(rewritten) => out.extend_from_slice(&rewritten),
            None => out.extend_from_slice(&frames),
        }
    }
}

/// The HEADERS frame (and CONTINUATIONs) in `frames` as one HEADERS frame with a fixed
/// `:authority`, or `None` when nothing needs fixing or anything is unexpected.
fn rewrite_header_frames(frames: &[u8]) -> Option<Vec<u8>> {
    let first_len = frame_len(frames)?;
    let flags = frames[4];
    let stream = &frames[5..9];
    let mut payload = frames.get(FRAME_HEADER..FRAME_HEADER + first_len)?;
    if flags & PADDED != 0 {
        let pad = usize::from(*payload.first()?);
        payload = payload.get(1..payload.len().checked_sub(pad)?)?;
    }
    let (priority, mut block) = if flags & PRIORITY != 0 {
        (payload.get(..5)?, payload.get(5..)?.to_vec())
    } else {
        (&[][..], payload.to_vec())
    };
    let mut rest = &frames[FRAME_HEADER + first_len..];
    while !rest.is_empty() {
        let len = frame_len(rest)?;
        block.extend_from_slice(rest.get(FRAME_HEADER..FRAME_HEADER + len)?);
        rest = &rest[FRAME_HEADER + len..];
    }
    let fixed = fix_block(&block)?;
    let length = priority.len() + fixed.len();
    if length > MAX_FRAME {
        return None;
    }
    let mut out = Vec::with_capacity(FRAME_HEADER + length);
    out.extend_from_slice(&u32::try_from(length).ok()?.to_be_bytes()[1..]);
    out.push(HEADERS);
    out.push((flags | END_HEADERS) & !PADDED);
    out.extend_from_slice(stream);
    out.extend_from_slice(priority);
    out.extend_from_slice(&fixed);
    Some(out)
}

fn frame_len(frame: &[u8]) -> Option<usize> {
    let head = frame.get(..FRAME_HEADER)?;
    Some(usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]))
}

/// The header block with invalid `:authority` values replaced, or `None` when there was
/// nothing to replace or the block does not parse.
fn fix_block(block: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(block.len());
    let mut changed = false;
    let mut at = 0;
    while at < block.len() {
        let first = block[at];
        if first & 0x80 != 0 {
            // Indexed header field.
            let (_, end) = integer(block, at, 7)?;
            out.extend_from_slice(&block[at..end]);
            at = end;
            continue;
        }
        if first & 0xe0 == 0x20 {
            // Dynamic table size update.
            let (_, end) = integer(block, at, 5)?;
            out.extend_from_slice(&block[at..end]);
            at = end;
            continue;
        }
        // A literal: with incremental indexing (6-bit name index), or without indexing /
        // never indexed (4-bit).
        let prefix = if first & 0xc0 == 0x40 { 6 } else { 4 };
        let (name_index, name_end) = integer(block, at, prefix)?;
        let (is_authority, value_at) = if name_index == 0 {
            let (name, value_at) = string(block, name_end)?;
            (name == b":authority", value_at)
        } else {
            (name_index == 1, name_end)
        };
        let (value, end) = string(block, value_at)?;
        let replacement = is_authority.then(|| fixed_authority(&value)).flatten();
        match replacement {
            Some(new_value) => {
                out.extend_from_slice(&block[at..value_at]);
                push_raw_string(&mut out, &new_value);
                changed = true;
            }
            None => out.extend_from_slice(&block[at..end]),
        }
        at = end;
    }
    changed.then_some(out)
}

/// A same-length stand-in for an `:authority` value h2 would refuse, or `None` when it is
/// fine as it is.
fn fixed_authority(value: &[u8]) -> Option<Vec<u8>> {
    if value.is_empty() || Authority::try_from(value).is_ok() {
        return None;
    }
    Some(
        value
            .iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() || b == b'.' {
                    b
                } else {
                    b'-'
                }
            })
            .collect(),
    )
}

/// An HPACK integer with an `n`-bit prefix starting at `block[at]`: its value and the
/// index after it.
fn integer(block: &[u8], at: usize, n: u32) -> Option<(usize, usize)> {
    let max = (1usize << n) - 1;
    let mut value = usize::from(*block.get(at)?) & max;
    let mut at = at + 1;
    if value < max {
        return Some((value, at));
    }
    let mut shift = 0u32;
    loop {
        let byte = *block.get(at)?;
        at += 1;
        if shift > 28 {
            return None;
        }
        value = value.checked_add(usize::from(byte & 0x7f) << shift)?;
        shift += 7;
        if byte & 0x80 == 0 {
            return Some((value, at));
        }
    }
}

/// An HPACK string literal at `block[at]`: its decoded bytes and the index after it.
fn string(block: &[u8], at: usize) -> Option<(Vec<u8>, usize)> {
    let huffman = *block.get(at)? & 0x80 != 0;
    let (len, start) = integer(block, at, 7)?;
    let end = start.checked_add(len)?;
    let raw = block.get(start..end)?;
    let value = if huffman {
        let mut decoded = Vec::new();
        httlib_huffman::decode(raw, &mut decoded, httlib_huffman::DecoderSpeed::FourBits).ok()?;
        decoded
    } else {
        raw.to_vec()
    };
    Some((value, end))
}

/// Appends `value` as a plain (not Huffman-coded) HPACK string literal.
fn push_raw_string(out: &mut Vec<u8>, value: &[u8]) {
    let mut len = value.len();
    if len < 0x7f {
        out.push(len as u8);
    } else {
        out.push(0x7f);
        len -= 0x7f;
        while len >= 0x80 {
            out.push((len & 0x7f) as u8 | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
    }
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn huffman(s: &str) -> Vec<u8> {
        let mut coded = Vec::new();
        httlib_huffman::encode(s.as_bytes(), &mut coded).unwrap();
        // The same length prefix as a plain string, with the Huffman bit set.
        let mut out = Vec::new();
        push_raw_string(&mut out, &coded);
        out[0] |= 0x80;
        out
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.push(kind);
        f.push(flags);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// `:method POST` (indexed 3), `:authority` literal with incremental indexing (index
    /// 1) Huffman-coded, then `te: trailers` as a literal with a new name.
    fn block(authority: &str) -> Vec<u8> {
        let mut b = vec![0x83, 0x41];
        b.extend_from_slice(&huffman(authority));
        b.push(0x00);
        push_raw_string(&mut b, b"te");
        b.extend_from_slice(&huffman("trailers"));
        b
    }

    fn run(chunks: &[&[u8]]) -> Vec<u8> {
        let mut filter = AuthorityFilter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            filter.feed(chunk, &mut out);
        }
        out
    }

    #[test]
    fn a_percent_encoded_socket_path_is_rewritten_in_place() {
        let bad = "tmp%2F.tmpk2IJlJ%2Fagent%2Fapi.sock";
        let settings = frame(0x4, 0, 0, &[]);
        let headers = frame(HEADERS, END_HEADERS, 1, &block(bad));
        let input = [PREFACE, &settings, &headers].concat();
        // Delivered one byte at a time, as a slow socket might.
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let out = run(&bytes);
        let mut fixed_block = vec![0x83, 0x41];
        push_raw_string(&mut fixed_block, b"tmp-2F.tmpk2IJlJ-2Fagent-2Fapi.sock");
        fixed_block.push(0x00);
        push_raw_string(&mut fixed_block, b"te");
        fixed_block.extend_from_slice(&huffman("trailers"));
        let expected = [
            PREFACE,
            &settings,
            &frame(HEADERS, END_HEADERS, 1, &fixed_block),
        ]
        .concat();
        assert_eq!(out, expected);
        assert!(Authority::try_from("tmp-2F.tmpk2IJlJ-2Fagent-2Fapi.sock").is_ok());
    }

    #[test]
    fn a_literal_name_is_recognised_too() {
        // grpcio's form: literal with incremental indexing, new name, plain strings.
        let mut b = vec![0x40];
        push_raw_string(&mut b, b":authority");
        push_raw_string(&mut b, b"run%2Fapi.sock");
        let input = [PREFACE, &frame(HEADERS, END_HEADERS, 1, &b)].concat();
        let mut fixed = vec![0x40];
        push_raw_string(&mut fixed, b":authority");
        push_raw_string(&mut fixed, b"run-2Fapi.sock");
        assert_eq!(
            run(&[&input]),
            [PREFACE, &frame(HEADERS, END_HEADERS, 1, &fixed)].concat()
        );
    }

    #[test]
    fn continuation_padding_and_priority_are_folded_into_one_frame() {
        let b = block("a%2Fb");
        let (head, tail) = b.split_at(3);
        let mut first = vec![2u8]; // pad length
        first.extend_from_slice(&[0, 0, 0, 3, 15]); // priority
        first.extend_from_slice(head);
        first.extend_from_slice(&[0, 0]); // padding
        let input = [
            PREFACE,
            &frame(HEADERS, PADDED | PRIORITY | 0x1, 3, &first),
            &frame(CONTINUATION, END_HEADERS, 3, tail),
        ]
        .concat();
        let out = run(&[&input]);
        let mut fixed = vec![0, 0, 0, 3, 15, 0x83, 0x41];
        push_raw_string(&mut fixed, b"a-2Fb");
        fixed.push(0x00);
        push_raw_string(&mut fixed, b"te");
        fixed.extend_from_slice(&huffman("trailers"));
        assert_eq!(
            out,
            [
                PREFACE,
                &frame(HEADERS, PRIORITY | END_HEADERS | 0x1, 3, &fixed)
            ]
            .concat()
        );
    }

    #[test]
    fn valid_authorities_and_other_frames_pass_unchanged() {
        let input = [
            PREFACE,
            &frame(HEADERS, END_HEADERS, 1, &block("localhost")),
            &frame(0x0, 0x1, 1, b"\x00\x00\x00\x00\x00"),
            &frame(HEADERS, END_HEADERS, 3, &[0x83, 0xbe]),
        ]
        .concat();
        assert_eq!(run(&[&input]), input);
    }

    /// Arbitrary frame sequences: never a panic, the same output however the bytes are
    /// split, and byte-for-byte passthrough when no header block needed fixing.
    #[test]
    fn arbitrary_input_is_split_invariant() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..2000 {
            let mut input = if round % 10 == 0 {
                Vec::new()
            } else {
                PREFACE.to_vec()
            };
            for _ in 0..next() % 6 {
                let kind =
                    [HEADERS, CONTINUATION, 0x0, 0x4, (next() % 12) as u8][next() as usize % 5];
                let flags = (next() % 64) as u8;
                let mut payload: Vec<u8> = (0..next() % 40).map(|_| next() as u8).collect();
                if next() % 2 == 0 {
                    // Something HPACK-shaped: a literal `:authority` with a bad value.
                    payload = [&[0x41u8][..], &[5], b"a%2Fb", &payload].concat();
                }
                let mut f = frame(kind, flags, (next() % 4) as u32, &payload);
                if next() % 20 == 0 {
                    f.truncate((next() as usize) % f.len());
                }
                input.extend_from_slice(&f);
            }
            let whole = {
                let mut filter = AuthorityFilter::default();
                let mut out = Vec::new();
                filter.feed(&input, &mut out);
                filter.finish(&mut out);
                out
            };
            let mut filter = AuthorityFilter::default();
            let mut out = Vec::new();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let n = 1 + next() as usize % rest.len();
                filter.feed(&rest[..n], &mut out);
                rest = &rest[n..];
            }
            filter.finish(&mut out);
            assert_eq!(out, whole, "round {round}");
            if !input.windows(5).any(|w| w == b"a%2Fb") {
                assert_eq!(whole, input, "round {round}");
            }
        }
    }

    #[test]
    fn garbage_passes_through() {
        let not_http2 = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        assert_eq!(run(&[&not_http2]), not_http2);
        let truncated_hpack = [PREFACE, &frame(HEADERS, END_HEADERS, 1, &[0x41, 0xff])].concat();
        assert_eq!(run(&[&truncated_hpack]), truncated_hpack);
        let bad_huffman = [
            PREFACE,
            &frame(HEADERS, END_HEADERS, 1, &[0x41, 0x81, 0xff]),
        ]
        .concat();
        assert_eq!(run(&[&bad_huffman]), bad_huffman);
    }
}
