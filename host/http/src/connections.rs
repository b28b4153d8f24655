//! The HTTP edge's connections: how many are open at once, how long a
//! client may keep one waiting, and how they end when the service stops.
//!
//! axum's own `serve` has neither timeouts nor a cap, so the accept loop is
//! this module's, over hyper's HTTP/1 connections. hyper's header-read
//! timeout also runs while a kept-alive connection waits for its next
//! request, which would make the idle timeout the header timeout; instead
//! each connection has a watchdog of its own ([`Activity`]) that knows
//! whether a request is being answered, when the last answer ended, and
//! when the first byte of the next request came. A request's body has its
//! own timeout, where the body is read (after the token is checked).
//!
//! Past `max_connections` the loop accepts nothing: new connections wait in
//! the kernel's backlog until one closes, and the header timeout bounds how
//! long a connection that sends nothing useful holds its place.
//!
//! At a stop, hyper's graceful shutdown lets a request being answered
//! finish and closes an idle connection once its last answer is written;
//! a connection still waiting for a request's headers is closed at once,
//! since nothing of that request has reached the service.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower_service::Service as _;

use escort_service::{EdgeTimeouts, Service};

/// Largest request line and headers together. Escort's requests need a few
/// hundred bytes; hyper's own bound (its buffer, about 400 KiB) would let
/// each slow connection hold that much memory.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Open files the service needs besides its connections: the database's
/// connections (the writer and the readers, each with its WAL and shared
/// memory), the listener, the runtime's, and the policy files and cache
/// entries read while loading.
const FILES_BESIDES_CONNECTIONS: u64 = 128;

/// Connections the kernel keeps waiting to be accepted while the service is
/// at `max_connections` (capped by `net.core.somaxconn`). The usual 128
/// would have a flood of connections crowd out legitimate ones sooner:
/// past the backlog, the kernel drops a client's connection attempt and
/// the client tries again only after a second or more.
const LISTEN_BACKLOG: u32 = 1024;

/// How long the accept loop waits after the operating system refused a
/// connection for want of resources (`EMFILE`: no file descriptor left),
/// before it asks again.
const ACCEPT_RETRY: Duration = Duration::from_secs(1);

/// Listens on `address`, with room for [`LISTEN_BACKLOG`] connections
/// waiting to be accepted.
pub(super) fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As a listener bound the usual way: a restart need not wait for the
    // previous process's connections to time out.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `router` on `listener` until `stop` resolves: at most
/// `max_connections` at once, each within `timeouts`. Then it accepts no
/// more and lets the requests in progress finish for up to
/// `timeouts.shutdown_grace`, abandoning (and naming) those still running.
/// Returns once every connection is closed or the grace period is over,
/// with the instant it ends.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    service: Arc<Service>,
    max_connections: usize,
    timeouts: EdgeTimeouts,
    stop: impl Future<Output = ()>,
) -> Instant {
    let slots = Arc::new(Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    let requests = Arc::new(Requests::default());
    let (stopping, stopped) = watch::channel(false);
    let mut http = http1::Builder::new();
    // The connection's watchdog times the headers: hyper's timeout would
    // also run while a kept-alive connection waits for its next request.
    http.header_read_timeout(None).max_header_size(MAX_HEADER_BYTES);
    let mut stop = pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the slots are never closed"),
            () = &mut stop => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    refused(&e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let activity = Arc::new(Activity::new());
        let answer = {
            let activity = Arc::clone(&activity);
            let requests = Arc::clone(&requests);
            let service = Arc::clone(&service);
            let router = router.clone();
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let answering = Answering::begin(&activity, &requests, &service, &request);
                let mut router = router.clone();
                async move {
                    let response = router.call(request).await;
                    drop(answering);
                    response
                }
            })
        };
        let io = TokioIo::new(Watched {
            stream,
            activity: Arc::clone(&activity),
        });
        let connection = graceful.watch(http.serve_connection(io, answer));
        let service = Arc::clone(&service);
        let stopped = stopped.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _open = Open::count(&service);
            // Dropped (closing the socket) at the end of the task, so that
            // a timeout is counted before the client can see it.
            let mut connection = pin!(connection);
            tokio::select! {
                // A connection's error is the client's going away or
                // sending what is not HTTP; hyper answered what it could.
                _ = connection.as_mut() => {}
                timeout = activity.timed_out(timeouts) => {
                    service.metrics().count_connection_timeout(timeout.name());
                }
                () = activity.unstarted_at_stop(stopped) => {}
            }
        });
    }
    // Connections still in the backlog are refused with the listener.
    drop(listener);
    stopping.send_replace(true);
    let deadline = Instant::now() + timeouts.shutdown_grace;
    match requests.in_progress().len() {
        0 => tracing::info!("stopping: accepting no more connections"),
        count => tracing::info!(
            "stopping: accepting no more connections; {count} requests in progress have up to {:?} \
             to finish",
            timeouts.shutdown_grace
        ),
    }
    if tokio::time::timeout_at(deadline, graceful.shutdown()).await.is_err() {
        let abandoned = requests.in_progress();
        if !abandoned.is_empty() {
            tracing::warn!(
                "stopping: {} requests still in progress after {:?} are abandoned unanswered \
                 (what a step had not committed is not kept; its client sends it again): {}",
                abandoned.len(),
                timeouts.shutdown_grace,
                abandoned.join(", ")
            );
        }
    }
    deadline
}

/// Waits out a refused `accept`. A connection that failed before it was
/// accepted is the client's affair; anything else (no file descriptor or
/// memory left) would fail again at once.
async fn refused(error: &io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::warn!(
        "cannot accept a connection ({error}); trying again in {ACCEPT_RETRY:?} \
         (max_connections should leave room under the open-file limit)"
    );
    tokio::time::sleep(ACCEPT_RETRY).await;
}

/// The most connections to serve at once: `max_connections`, or fewer when
/// the open-file limit leaves no room for that many. The soft limit is
/// raised first, up to the hard one, as far as `max_connections` needs.
pub(super) fn connection_cap(max_connections: usize) -> usize {
    let wanted = max_connections as u64 + FILES_BESIDES_CONNECTIONS;
    let open_files = match rlimit::increase_nofile_limit(wanted) {
        Ok(open_files) => open_files,
        Err(e) => {
            tracing::warn!(
                "cannot read or raise the open-file limit ({e}); serving up to {max_connections} connections"
            );
            return max_connections;
        }
    };
    let cap = cap_within(max_connections, open_files);
    if cap < max_connections {
        tracing::warn!(
            "the open-file limit (ulimit -n) is {open_files}, which leaves room for {cap} connections, \
             not max_connections = {max_connections}; serving up to {cap}"
        );
    }
    cap
}

/// `max_connections`, or what `open_files` leaves room for beside the
/// service's own files (at least one).
fn cap_within(max_connections: usize, open_files: u64) -> usize {
    let room = open_files.saturating_sub(FILES_BESIDES_CONNECTIONS).max(1);
    usize::try_from(room).map_or(max_connections, |room| max_connections.min(room))
}

/// Why a connection was closed for keeping the service waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timeout {
    /// A request's headers did not come whole in time.
    Header,
    /// No request came in time after an answer.
    Idle,
}

impl Timeout {
    fn name(self) -> &'static str {
        match self {
            Timeout::Header => "header",
            Timeout::Idle => "idle",
        }
    }
}

/// Where a connection is between its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Opened at this instant; its first request's headers are due.
    Opened(Instant),
    /// A request is being answered: the endpoint's own bounds apply.
    Answering,
    /// Answered at this instant, and no byte of another request yet.
    Idle(Instant),
    /// The first byte of the next request came at this instant.
    Reading(Instant),
}

/// What a connection is doing, for its watchdog: told by the socket when
/// bytes come ([`Watched`]) and by the service when a request begins and
/// ends ([`Answering`]).
#[derive(Debug)]
struct Activity {
    phase: watch::Sender<Phase>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            phase: watch::Sender::new(Phase::Opened(Instant::now())),
        }
    }

    fn enter(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Bytes came from the client.
    fn received(&self) {
        self.phase.send_if_modified(|phase| match phase {
            Phase::Idle(_) => {
                *phase = Phase::Reading(Instant::now());
                true
            }
            _ => false,
        });
    }

    /// Resolves once the connection has kept the service waiting past a
    /// timeout, and says which.
    async fn timed_out(&self, timeouts: EdgeTimeouts) -> Timeout {
        let mut phase = self.phase.subscribe();
        loop {
            let deadline = match *phase.borrow_and_update() {
                Phase::Opened(since) | Phase::Reading(since) => Some((since + timeouts.header, Timeout::Header)),
                Phase::Idle(since) => Some((since + timeouts.idle, Timeout::Idle)),
                Phase::Answering => None,
            };
            match deadline {
                // The sender lives as long as the connection.
                None => phase.changed().await.expect("the connection's activity is there"),
                Some((deadline, timeout)) => {
                    tokio::select! {
                        biased;
                        changed = phase.changed() => changed.expect("the connection's activity is there"),
                        () = tokio::time::sleep_until(deadline) => return timeout,
                    }
                }
            }
        }
    }

    /// Resolves once the service is stopping (`stopped` turns true) while
    /// the connection waits for a request's headers.
    async fn unstarted_at_stop(&self, mut stopped: watch::Receiver<bool>) {
        // The sender lives as long as the accept loop; without it, this is
        // a stop too.
        let _ = stopped.wait_for(|stopped| *stopped).await;
        let mut phase = self.phase.subscribe();
        let _ = phase
            .wait_for(|phase| matches!(phase, Phase::Opened(_) | Phase::Reading(_)))
            .await;
    }
}

/// A connection's socket, which tells the connection's [`Activity`] when
/// bytes come.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The requests being answered, by method and path, so that a stop can
/// name those it abandons.
#[derive(Debug, Default)]
struct Requests(Mutex<InProgress>);

#[derive(Debug, Default)]
struct InProgress {
    /// The number the next request gets.
    next: u64,
    /// Method and path of each request being answered, by number.
    requests: BTreeMap<u64, String>,
}

impl Requests {
    fn lock(&self) -> MutexGuard<'_, InProgress> {
        // Every change is one insert or remove: never left half done.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn in_progress(&self) -> Vec<String> {
        self.lock().requests.values().cloned().collect()
    }
}

/// A request being answered, from its headers to its answer: while it
/// lives, its connection has no timeout, it is counted in flight, and a
/// stop names it.
struct Answering {
    number: u64,
    activity: Arc<Activity>,
    requests: Arc<Requests>,
    service: Arc<Service>,
}

impl Answering {
    fn begin<B>(
        activity: &Arc<Activity>,
        requests: &Arc<Requests>,
        service: &Arc<Service>,
        request: &hyper::Request<B>,
    ) -> Answering {
        activity.enter(Phase::Answering);
        service.metrics().count_requests_in_flight(1);
        let number = {
            let mut in_progress = requests.lock();
            let number = in_progress.next;
            in_progress.next += 1;
            in_progress
                .requests
                .insert(number, format!("{} {}", request.method(), request.uri().path()));
            number
        };
        Answering {
            number,
            activity: Arc::clone(activity),
            requests: Arc::clone(requests),
            service: Arc::clone(service),
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.requests.lock().requests.remove(&self.number);
        self.service.metrics().count_requests_in_flight(-1);
        self.activity.enter(Phase::Idle(Instant::now()));
    }
}

/// An open connection, counted in `escort_http_connections` while it lives.
struct Open(Arc<Service>);

impl Open {
    fn count(service: &Arc<Service>) -> Open {
        service.metrics().count_connections(1);
        Open(Arc::clone(service))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.metrics().count_connections(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_lowers_the_cap_and_leaves_room_for_the_services_own_files() {
        assert_eq!(cap_within(1000, 1_048_576), 1000);
        assert_eq!(cap_within(1000, 1024), 1024 - FILES_BESIDES_CONNECTIONS as usize);
        assert_eq!(cap_within(1000, 100), 1, "one connection at least");
    }
}
