//! A batching, non-blocking log writer.
//!
//! Request threads append each formatted line to a shared buffer; one background thread writes
//! the buffer to stdout in batches. Waking a writer thread per line (what a channel-per-line
//! writer does) costs a system call per request; here the writer is woken once per batch.
//! If stdout stalls and the buffer fills, new lines are dropped and counted instead of
//! blocking requests.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Past this many buffered bytes, lines are dropped rather than queued.
const MAX_BUFFERED: usize = 2 * 1024 * 1024;

#[derive(Debug, Default)]
struct Shared {
    buffer: Mutex<Vec<u8>>,
    pending: Condvar,
    closed: AtomicBool,
    dropped: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `MakeWriter` handed to the subscriber.
#[derive(Debug, Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Counts lines dropped because the output could not keep up.
#[derive(Debug, Clone)]
pub struct DroppedLines(Arc<Shared>);

impl DroppedLines {
    pub fn count(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

/// Flushes what is buffered and stops the writer thread when dropped.
#[derive(Debug)]
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        // Set under the lock: the writer checks `closed` and starts waiting while holding it,
        // so the notification cannot fall between its check and its wait.
        {
            let _buffer = self.shared.lock();
            self.shared.closed.store(true, Ordering::Release);
        }
        self.shared.pending.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the writer thread over `output`. Lines gather for `window` (`APP_LOG_FLUSH_INTERVAL`)
/// before a write: it bounds both log latency and system calls.
pub fn spawn(
    output: impl Write + Send + 'static,
    window: Duration,
) -> io::Result<(LogWriter, DroppedLines, FlushGuard)> {
    let shared = Arc::new(Shared::default());
    let for_thread = Arc::clone(&shared);
    let thread = thread::Builder::new()
        .name("log-writer".to_owned())
        .stack_size(128 * 1024)
        .spawn(move || write_batches(&for_thread, output, window))?;
    Ok((
        LogWriter {
            shared: Arc::clone(&shared),
        },
        DroppedLines(Arc::clone(&shared)),
        FlushGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_batches(shared: &Shared, mut output: impl Write, window: Duration) {
    let mut batch = Vec::new();
    loop {
        {
            let mut buffer = shared.lock();
            while buffer.is_empty() && !shared.closed.load(Ordering::Acquire) {
                buffer = shared
                    .pending
                    .wait(buffer)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        let closing = shared.closed.load(Ordering::Acquire);
        if !closing {
            thread::sleep(window);
        }
        std::mem::swap(&mut *shared.lock(), &mut batch);
        // A failed write (stdout closed) has nowhere to be reported; the lines are lost.
        let _ = output.write_all(&batch).and_then(|()| output.flush());
        batch.clear();
        if batch.capacity() > MAX_BUFFERED {
            batch.shrink_to(MAX_BUFFERED);
        }
        if closing && shared.lock().is_empty() {
            return;
        }
    }
}

/// One formatted line: the subscriber writes each event with a single `write_all`.
#[derive(Debug)]
pub struct LineWriter<'a>(&'a Shared);

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut buffer = self.0.lock();
        if buffer.len() + line.len() > MAX_BUFFERED {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            let was_empty = buffer.is_empty();
            buffer.extend_from_slice(line);
            drop(buffer);
            if was_empty {
                self.0.pending.notify_one();
            }
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(&self.shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_reaches_the_output_by_the_time_the_guard_drops() {
        let captured = Captured::default();
        let (writer, dropped, guard) =
            spawn(captured.clone(), Duration::from_millis(20)).expect("thread starts");
        for n in 0..1000 {
            writer
                .make_writer()
                .write_all(format!("line {n}\n").as_bytes())
                .expect("write");
        }
        drop(guard);
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(text.lines().count(), 1000);
        assert_eq!(text.lines().last(), Some("line 999"));
        assert_eq!(dropped.count(), 0);
    }

    #[test]
    fn lines_beyond_the_buffer_are_dropped_and_counted() {
        /// Never finishes a write, like a stalled pipe.
        struct Stalled;
        impl Write for Stalled {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                thread::sleep(Duration::from_hours(1));
                Ok(0)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (writer, dropped, guard) =
            spawn(Stalled, Duration::from_millis(20)).expect("thread starts");
        let line = vec![b'x'; 1024];
        for _ in 0..(MAX_BUFFERED / 1024) * 3 {
            writer.make_writer().write_all(&line).expect("never blocks");
        }
        assert!(
            dropped.count() >= (MAX_BUFFERED / 1024) as u64,
            "dropped {}",
            dropped.count()
        );
        std::mem::forget(guard); // its thread is stuck in the stalled write
    }
}
