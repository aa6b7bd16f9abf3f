//! A blocking writer feeding an async consumer: bytes written on a blocking thread (a tar
//! writer, a compressor) go into a bounded channel in chunks, so the consumer (a request
//! body) streams them while they are produced, with at most a few chunks in memory.

use std::io::Write;

/// Chunk size: large enough to keep per-chunk overhead small, small enough that a few
/// chunks in flight stay well under a megabyte or two.
const CHUNK: usize = 256 * 1024;

/// A `Write` that sends [`CHUNK`]-sized pieces into a channel (`flush` sends the rest).
pub struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
    buf: Vec<u8>,
    /// The error when the receiving end is gone (says who stopped reading).
    gone: &'static str,
}

impl ChannelWriter {
    pub fn new(tx: tokio::sync::mpsc::Sender<bytes::Bytes>, gone: &'static str) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
            gone,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, self.gone))
    }
}

/// Where a producer's bytes go when it can hand over whole buffers: any writer (copying
/// them), or one that takes them as they are (a [`ChannelWriter`], no copy).
pub trait Sink: Write + Send {
    fn put(&mut self, bytes: bytes::Bytes) -> std::io::Result<()> {
        self.write_all(&bytes)
    }
}

impl Sink for Vec<u8> {}
impl Sink for &mut Vec<u8> {}
impl Sink for std::io::BufWriter<std::fs::File> {}

impl Sink for ChannelWriter {
    /// A big buffer goes into the channel as it is (after what is buffered); small ones
    /// are gathered into chunks.
    fn put(&mut self, bytes: bytes::Bytes) -> std::io::Result<()> {
        if bytes.len() < CHUNK / 4 {
            return self.write_all(&bytes);
        }
        self.send()?;
        self.tx
            .blocking_send(bytes)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, self.gone))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_keeps_the_order_and_passes_big_buffers_through_whole() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
        let big = bytes::Bytes::from(vec![7u8; CHUNK]);
        let mut w = ChannelWriter::new(tx, "gone");
        w.put(bytes::Bytes::from_static(b"head")).expect("small");
        w.put(big.clone()).expect("big");
        w.write_all(b"tail").expect("write");
        w.flush().expect("flush");
        drop(w);
        let mut got = Vec::new();
        while let Some(chunk) = rx.blocking_recv() {
            got.push(chunk);
        }
        assert_eq!(
            got.len(),
            3,
            "{:?}",
            got.iter().map(|c| c.len()).collect::<Vec<_>>()
        );
        assert_eq!(&got[0][..], b"head");
        // The same allocation, not a copy of it.
        assert_eq!(got[1].as_ptr(), big.as_ptr());
        assert_eq!(&got[2][..], b"tail");
    }
}

/// How many chunks a [`Drained`] stream may hold ahead of its reader.
const AHEAD: usize = 8;

/// A blocking `Read` over an async byte stream that a task drains as fast as it arrives,
/// holding up to [`AHEAD`] batches of about [`CHUNK`] bytes (the pieces as they came, not
/// copied): the sender (a daemon's export) is not held up while the reader hashes and hands
/// out blocks, and the reader wakes once per batch, not once per network read. (A
/// `SyncIoBridge` reads the socket only when its reader asks, between its hashing and its
/// hand-offs; see docs/benchmarks.md, issue 39.)
pub struct Drained {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Vec<bytes::Bytes>>>,
    /// The batch being read, front first.
    current: std::collections::VecDeque<bytes::Bytes>,
}

/// Drain `stream` on the current runtime; read it on a blocking thread.
pub fn drained<S>(stream: S) -> Drained
where
    S: futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
{
    use futures::{FutureExt, StreamExt};
    let (tx, rx) = tokio::sync::mpsc::channel(AHEAD);
    tokio::spawn(async move {
        let mut stream = Box::pin(stream);
        loop {
            // Wait for something, then take what else has arrived, up to about CHUNK bytes.
            let mut next = stream.next().await;
            let (mut batch, mut size) = (Vec::new(), 0);
            let end = loop {
                match next {
                    None => break Ok(true),
                    Some(Err(e)) => break Err(e),
                    Some(Ok(b)) => {
                        size += b.len();
                        batch.push(b);
                    }
                }
                if size >= CHUNK {
                    break Ok(false);
                }
                match stream.next().now_or_never() {
                    Some(item) => next = item,
                    None => break Ok(false),
                }
            };
            if !batch.is_empty() && tx.send(Ok(batch)).await.is_err() {
                return;
            }
            match end {
                Ok(false) => {}
                Ok(true) => return,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    Drained {
        rx,
        current: std::collections::VecDeque::new(),
    }
}

impl std::io::Read for Drained {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let piece = loop {
            match self.current.front_mut() {
                Some(p) if p.is_empty() => {
                    self.current.pop_front();
                }
                Some(p) => break p,
                None => match self.rx.blocking_recv() {
                    Some(Ok(batch)) => self.current = batch.into(),
                    Some(Err(e)) => return Err(e),
                    None => return Ok(0),
                },
            }
        };
        let n = out.len().min(piece.len());
        out[..n].copy_from_slice(&piece.split_to(n));
        Ok(n)
    }
}

/// `stream`, ending in a `TimedOut` error (and then nothing) when no item comes for
/// `stall`; `what` names the stream in that error.
pub fn no_progress<S, T>(
    stream: S,
    stall: std::time::Duration,
    what: String,
) -> impl futures::Stream<Item = std::io::Result<T>>
where
    S: futures::Stream<Item = std::io::Result<T>> + Unpin,
{
    use futures::StreamExt;
    futures::stream::unfold(Some(stream), move |s| {
        let what = what.clone();
        async move {
            let mut s = s?;
            match tokio::time::timeout(stall, s.next()).await {
                Ok(Some(item)) => Some((item, Some(s))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "{what}: the Docker daemon sent nothing for {} s (SLIPWAY_DAEMON_TIMEOUT)",
                            stall.as_secs()
                        ),
                    )),
                    None,
                )),
            }
        }
    })
}

#[cfg(test)]
mod no_progress_tests {
    use super::no_progress;
    use futures::StreamExt;
    use std::time::Duration;

    #[tokio::test]
    async fn a_silent_stream_ends_in_a_timeout_and_a_moving_one_does_not() {
        let moving = futures::stream::iter([Ok::<_, std::io::Error>(1), Ok(2)]);
        let got: Vec<_> = no_progress(moving, Duration::from_millis(100), "m".into())
            .collect()
            .await;
        assert_eq!(got.len(), 2);
        let silent =
            futures::stream::iter([Ok::<_, std::io::Error>(1)]).chain(futures::stream::pending());
        let started = std::time::Instant::now();
        let got: Vec<_> = no_progress(silent, Duration::from_millis(100), "export x".into())
            .collect()
            .await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(got.len(), 2);
        let err = got[1].as_ref().expect_err("timed out");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(
            err.to_string()
                .contains("export x: the Docker daemon sent nothing")
        );
    }
}

#[cfg(test)]
mod drained_tests {
    use super::{AHEAD, CHUNK, drained};
    use std::io::Read;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_drained_stream_reads_back_whole_then_ends_or_fails() {
        // Small network reads and one big one, then the end: every byte, in order.
        let pieces: Vec<bytes::Bytes> = (0..300u32)
            .map(|i| bytes::Bytes::from(vec![(i % 251) as u8; 1000 + i as usize]))
            .chain([bytes::Bytes::from(vec![7u8; 3 * CHUNK])])
            .collect();
        let want: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
        let stream = futures::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
        let mut reader = drained(stream);
        let got = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            reader.read_to_end(&mut got).map(|_| got)
        })
        .await
        .expect("join")
        .expect("read");
        assert!(got == want, "{} bytes read, {} sent", got.len(), want.len());

        // An error mid-stream reaches the reader after the bytes before it.
        let failing = futures::stream::iter([
            Ok(bytes::Bytes::from_static(b"before")),
            Err(std::io::Error::other("the export broke")),
            Ok(bytes::Bytes::from_static(b"never")),
        ]);
        let mut reader = drained(failing);
        let (got, err) = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            let err = reader.read_to_end(&mut got).expect_err("fails");
            (got, err)
        })
        .await
        .expect("join");
        assert_eq!(got, b"before");
        assert!(err.to_string().contains("the export broke"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_reader_stops_the_drain() {
        // An endless stream: the task ends once nobody reads (the connection is dropped),
        // holding no more than its few chunks meanwhile.
        let polled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = polled.clone();
        let endless = futures::stream::repeat_with(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![1u8; CHUNK]))
        });
        let reader = drained(endless);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let before = polled.load(std::sync::atomic::Ordering::SeqCst);
        // The channel's batches (of one chunk each here), one being sent, one being read
        // from the stream.
        assert!(
            before <= AHEAD + 2,
            "{before} chunks taken with nobody reading"
        );
        drop(reader);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let after = polled.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            polled.load(std::sync::atomic::Ordering::SeqCst),
            after,
            "still draining after the reader went"
        );
    }
}
