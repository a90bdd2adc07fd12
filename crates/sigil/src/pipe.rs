//! A three-stage pipeline for bulk streams: one thread reads, the calling thread transforms
//! (encrypts or decrypts), one thread writes.
//!
//! On a small machine the syscalls of reading and writing a large file cost as much as the
//! cryptography; done on one thread they add up, done on three they overlap. Memory stays
//! bounded: a fixed set of [`DEPTH`] buffers of [`CHUNK`] bytes circulates between two stages
//! (full buffers one way, empty ones back), so nothing is allocated per chunk. Buffers that may
//! hold plaintext are zeroized once, when the stage ends.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

use zeroize::Zeroize;

/// Bytes per buffer handed between stages.
pub(crate) const CHUNK: usize = 1024 * 1024;

/// Buffers circulating between two stages.
const DEPTH: usize = 4;

/// Whether a stage's buffers may hold plaintext and must be wiped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contents {
    Plaintext,
    Ciphertext,
}

fn wipe(bufs: impl IntoIterator<Item = Vec<u8>>, contents: Contents) {
    if contents == Contents::Plaintext {
        for mut b in bufs {
            b.resize(b.capacity(), 0);
            b.zeroize();
        }
    }
}

/// Reads `source` on a background thread; the calling thread reads from this.
pub(crate) struct PipeReader {
    full: Receiver<io::Result<Vec<u8>>>,
    empty: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
    contents: Contents,
}

impl PipeReader {
    pub(crate) fn spawn(source: Box<dyn Read + Send>, contents: Contents) -> io::Result<Self> {
        let (full_tx, full) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        let (empty, empty_rx) = sync_channel::<Vec<u8>>(DEPTH);
        for _ in 0..DEPTH {
            let _ = empty.send(Vec::with_capacity(CHUNK));
        }
        thread::Builder::new()
            .name("sigil-read".into())
            .spawn(move || read_loop(source, &full_tx, &empty_rx, contents))?;
        Ok(Self {
            full,
            empty,
            current: Vec::new(),
            pos: 0,
            done: false,
            contents,
        })
    }
}

fn fill(source: &mut dyn Read, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.resize(CHUNK, 0);
    let mut filled = 0;
    let result = loop {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                filled += n;
                if filled == CHUNK {
                    break Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.truncate(filled);
    result
}

fn read_loop(
    mut source: Box<dyn Read + Send>,
    full: &SyncSender<io::Result<Vec<u8>>>,
    empty: &Receiver<Vec<u8>>,
    contents: Contents,
) {
    // Each received buffer is either filled and passed on, or wiped here.
    while let Ok(mut buf) = empty.recv() {
        if let Err(e) = fill(&mut *source, &mut buf) {
            wipe([buf], contents);
            let _ = full.send(Err(e));
            break;
        }
        let eof = buf.len() < CHUNK;
        if buf.is_empty() {
            wipe([buf], contents);
            break;
        }
        if let Err(returned) = full.send(Ok(buf)) {
            // The consumer hung up.
            if let Ok(b) = returned.0 {
                wipe([b], contents);
            }
            break;
        }
        if eof {
            break;
        }
    }
    wipe(empty.try_iter(), contents);
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.full.recv() {
                Ok(Ok(buf)) => {
                    let used = std::mem::replace(&mut self.current, buf);
                    self.pos = 0;
                    if used.capacity() > 0 {
                        // The reader may already have stopped; then the buffer is wiped on drop.
                        if let Err(e) = self.empty.send(used) {
                            wipe([e.0], self.contents);
                        }
                    }
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    // The reader thread finished: end of input.
                    self.done = true;
                }
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for PipeReader {
    /// Wipes what this side holds. The reader thread is not joined: it may be blocked reading a
    /// pipe that never ends. It stops at its next send or receive on the closed channels and
    /// wipes the buffer it holds.
    fn drop(&mut self) {
        wipe([std::mem::take(&mut self.current)], self.contents);
        wipe(self.full.try_iter().filter_map(Result::ok), self.contents);
    }
}

/// Writes to `sink` on a background thread. [`PipeWriter::finish`] must be called to flush and
/// learn whether every write succeeded; it returns the sink.
pub(crate) struct PipeWriter<W: Write + Send + 'static> {
    full: Option<SyncSender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    contents: Contents,
    thread: Option<JoinHandle<(W, io::Result<()>)>>,
}

impl<W: Write + Send + 'static> PipeWriter<W> {
    pub(crate) fn spawn(sink: W, contents: Contents) -> io::Result<Self> {
        let (full, full_rx) = sync_channel::<Vec<u8>>(DEPTH);
        let (empty_tx, empty) = sync_channel::<Vec<u8>>(DEPTH + 1);
        for _ in 0..DEPTH {
            let _ = empty_tx.send(Vec::with_capacity(CHUNK));
        }
        let thread = thread::Builder::new()
            .name("sigil-write".into())
            .spawn(move || write_loop(sink, &full_rx, &empty_tx, contents))?;
        Ok(Self {
            full: Some(full),
            empty,
            buf: Vec::with_capacity(CHUNK),
            contents,
            thread: Some(thread),
        })
    }

    fn send_current(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // An empty buffer comes back once the writer is done with one; if the writer stopped
        // on an error, none will: finish() reports that error.
        let next = self
            .empty
            .recv()
            .map_err(|_| io::Error::other("the output writer stopped"))?;
        let full = std::mem::replace(&mut self.buf, next);
        match self.full.as_ref().map(|tx| tx.send(full)) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => {
                wipe([e.0], self.contents);
                Err(io::Error::other("the output writer stopped"))
            }
            None => Err(io::Error::other("the output writer stopped")),
        }
    }

    /// Sends what is buffered, waits for the writer, and returns the sink and the first write
    /// error, if any.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        let flushed = self.send_current();
        drop(self.full.take());
        let (sink, result) = self
            .thread
            .take()
            .ok_or_else(|| io::Error::other("writer already finished"))?
            .join()
            .map_err(|_| io::Error::other("the output writer panicked"))?;
        result?;
        flushed?;
        Ok(sink)
    }
}

impl<W: Write + Send + 'static> Drop for PipeWriter<W> {
    fn drop(&mut self) {
        wipe([std::mem::take(&mut self.buf)], self.contents);
        drop(self.full.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        wipe(self.empty.try_iter(), self.contents);
    }
}

fn write_loop<W: Write>(
    mut sink: W,
    full: &Receiver<Vec<u8>>,
    empty: &SyncSender<Vec<u8>>,
    contents: Contents,
) -> (W, io::Result<()>) {
    for mut buf in full {
        let written = sink.write_all(&buf);
        buf.clear();
        if let Err(e) = written {
            wipe([buf], contents);
            wipe(full.try_iter(), contents);
            return (sink, Err(e));
        }
        if let Err(e) = empty.send(buf) {
            wipe([e.0], contents);
        }
    }
    let flushed = sink.flush();
    (sink, flushed)
}

impl<W: Write + Send + 'static> Write for PipeWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send_current()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_current()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_and_writer_move_every_byte_in_order() {
        let data: Vec<u8> = (0..5 * CHUNK + 123).map(|i| (i * 7 % 251) as u8).collect();
        let mut reader =
            PipeReader::spawn(Box::new(io::Cursor::new(data.clone())), Contents::Plaintext)
                .unwrap();
        let mut writer = PipeWriter::spawn(Vec::new(), Contents::Plaintext).unwrap();
        let mut buf = vec![0; 77_777];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            writer.write_all(&buf[..n]).unwrap();
        }
        assert_eq!(writer.finish().unwrap(), data);
    }

    #[test]
    fn a_consumer_that_stops_early_does_not_hang() {
        let data = vec![1u8; 20 * CHUNK];
        let mut reader =
            PipeReader::spawn(Box::new(io::Cursor::new(data)), Contents::Ciphertext).unwrap();
        let mut buf = vec![0; 10];
        reader.read_exact(&mut buf).unwrap();
        drop(reader);
    }

    #[test]
    fn errors_reach_the_caller() {
        #[derive(Debug)]
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        impl Write for Failing {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut r = PipeReader::spawn(Box::new(Failing), Contents::Ciphertext).unwrap();
        assert!(r.read(&mut [0; 10]).is_err());
        let mut w = PipeWriter::spawn(Failing, Contents::Plaintext).unwrap();
        let _ = w.write_all(&vec![1; 3 * CHUNK]);
        let err = w.finish().unwrap_err();
        assert_eq!(err.to_string(), "disk full");
    }
}
