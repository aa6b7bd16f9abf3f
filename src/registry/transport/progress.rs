//! No-progress timeouts. A registry request fails when no byte has moved either way for the
//! stall time (`--registry-timeout`): while the request body is being sent, each chunk the
//! connection takes is progress; after the answer's headers, each chunk of its body is.
//! A whole-request timeout would cut a slow but moving 2 GB upload, and reqwest's own
//! `read_timeout` runs one timer from the request's start to the answer's headers, which
//! an upload longer than the timeout never reaches; so the watch is kept here.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// A request body at least this big earns a longer wait for the answer once it is sent:
/// registries hash and move a big blob before they answer (an S3-backed one copies it),
/// silently, for longer than a small PUT ever takes.
const BIG_BODY: u64 = 16 * 1024 * 1024;
/// How many stall times that wait may last.
const BIG_BODY_ANSWER: u32 = 6;

/// When bytes last moved for one request attempt. Clones share the clock.
#[derive(Clone)]
pub(crate) struct Progress {
    start: Instant,
    /// Milliseconds after `start` of the last progress.
    last: Arc<AtomicU64>,
    /// Request body bytes taken by the connection, and whether all were.
    sent: Arc<AtomicU64>,
    body_done: Arc<std::sync::atomic::AtomicBool>,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            start: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
            sent: Arc::new(AtomicU64::new(0)),
            body_done: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    pub fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    fn sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        self.touch();
    }

    fn done(&self) {
        self.body_done.store(true, Ordering::Relaxed);
        self.touch();
    }

    /// The stall time that applies now: longer while a big body's answer is awaited.
    fn limit(&self, stall: Duration) -> Duration {
        if self.body_done.load(Ordering::Relaxed) && self.sent.load(Ordering::Relaxed) >= BIG_BODY {
            stall * BIG_BODY_ANSWER
        } else {
            stall
        }
    }

    /// How long nothing has moved.
    pub fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// Resolves once nothing has moved for `stall` (for [`BIG_BODY_ANSWER`] times that
    /// once a big request body has been sent whole).
    pub async fn stalled(&self, stall: Duration) {
        loop {
            let (idle, limit) = (self.idle(), self.limit(stall));
            if idle >= limit {
                return;
            }
            tokio::time::sleep(limit - idle).await;
        }
    }
}

/// A body that counts each frame as progress and, with a stall time, fails when none comes
/// for that long (the answer's body, read after the request returned).
pub(crate) struct Watched<B> {
    inner: B,
    progress: Progress,
    stall: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> Watched<B> {
    /// Counts progress only (a request body: the sender watches the stall).
    pub fn counting(inner: B, progress: Progress) -> Watched<B> {
        Watched {
            inner,
            progress,
            stall: None,
            sleep: None,
        }
    }

    /// Counts progress and fails after `stall` without any (an answer's body).
    pub fn timed(inner: B, stall: Duration) -> Watched<B> {
        Watched {
            inner,
            progress: Progress::new(),
            stall: Some(stall),
            sleep: None,
        }
    }
}

/// The body error of a stalled answer.
#[derive(Debug, thiserror::Error)]
#[error("no data for {} s (--registry-timeout)", .0.as_secs())]
pub(crate) struct Stalled(pub Duration);

impl<B> Body for Watched<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(f) => {
                match &f {
                    Some(Ok(frame)) => this.progress.sent(frame.data_ref().map_or(0, |d| d.len())),
                    None => this.progress.done(),
                    Some(Err(_)) => this.progress.touch(),
                }
                this.sleep = None;
                Poll::Ready(f.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let Some(stall) = this.stall else {
                    return Poll::Pending;
                };
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(Stalled(stall))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // hyper may stop at a body that says it ended, never polling for its `None`.
        let end = self.inner.is_end_stream();
        if end {
            self.progress.done();
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_body_that_stops_fails_after_the_stall_and_a_moving_one_does_not() {
        // Three chunks 50 ms apart under a 200 ms stall: each one is progress.
        let moving = futures::stream::unfold(0, |n| async move {
            if n == 3 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some((
                Ok::<_, std::io::Error>(Frame::data(Bytes::from("x"))),
                n + 1,
            ))
        });
        let body = Watched::timed(
            http_body_util::StreamBody::new(Box::pin(moving)),
            Duration::from_millis(200),
        );
        let all = body.collect().await.expect("moving body").to_bytes();
        assert_eq!(&all[..], b"xxx");
        // One chunk, then nothing.
        let stuck =
            futures::stream::once(async { Ok::<_, std::io::Error>(Frame::data(Bytes::from("y"))) })
                .chain(futures::stream::pending());
        let started = Instant::now();
        let err = Watched::timed(
            http_body_util::StreamBody::new(Box::pin(stuck)),
            Duration::from_millis(200),
        )
        .collect()
        .await
        .expect_err("stalled");
        assert!(err.to_string().contains("no data for"), "{err}");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(2));
    }

    #[test]
    fn a_big_body_sent_whole_waits_longer_for_its_answer() {
        let stall = Duration::from_secs(20);
        let p = Progress::new();
        assert_eq!(p.limit(stall), stall);
        p.sent(BIG_BODY as usize);
        assert_eq!(p.limit(stall), stall, "still sending");
        p.done();
        assert_eq!(p.limit(stall), stall * BIG_BODY_ANSWER);
        let small = Progress::new();
        small.sent(1024);
        small.done();
        assert_eq!(small.limit(stall), stall, "a small PUT's answer is quick");
    }

    #[tokio::test]
    async fn progress_tracks_the_last_touch() {
        let p = Progress::new();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(p.idle() >= Duration::from_millis(50));
        p.touch();
        assert!(p.idle() < Duration::from_millis(50));
        let started = Instant::now();
        p.stalled(Duration::from_millis(100)).await;
        assert!(started.elapsed() >= Duration::from_millis(90));
    }
}
