//! `escort serve` end to end: a real server in its own process, with all
//! default policies and durable writes, loaded over loopback by [`Load`],
//! and its resident memory read once many transits are open; then the same
//! load on a server running a shadow version of the speed policy, which
//! is what a shadow run costs ingest.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::BenchError;
use super::load::{Load, LoadOutcome};
use escort_engine::ComponentCache;

/// The ingest token the benchmark server is given.
const TOKEN: &str = "benchmark-ingest-token-0001";

/// Its regulator token, to publish a shadow version.
const REGULATOR_TOKEN: &str = "benchmark-regulator-token-0001";

/// The shape of the load.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Shape {
    /// Transits fed in the timed run.
    pub transits: usize,
    /// Threads sending side by side.
    pub concurrency: usize,
    /// Fixes per batch.
    pub batch: usize,
    /// Batches per transit.
    pub batches: usize,
    /// Transits open (registered, each with one batch of fixes) when the
    /// server's memory is read.
    pub open_transits: usize,
}

/// What the server did.
#[derive(Debug, Clone, Serialize)]
pub struct EndToEnd {
    /// The load.
    pub shape: Shape,
    /// What the timed run saw.
    pub load: LoadOutcome,
    /// The server's resident memory with [`Shape::open_transits`] open
    /// transits, MiB.
    pub rss_mib: f64,
    /// The timed run again, on a server running the built-in speed policy
    /// in shadow beside the enforced one.
    pub with_shadow: LoadOutcome,
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `escort` (this binary, or another build) as a server on a fresh
/// data folder, loads it with `shape` and reads its memory.
pub fn end_to_end(escort: &Path, cache: &ComponentCache, shape: Shape) -> Result<EndToEnd, BenchError> {
    let folder = tempfile::tempdir().map_err(|e| BenchError::Serve(format!("a data folder: {e}")))?;
    let server = start(escort, folder.path(), cache)?;
    let load = timed_load(&server.url, "LOAD", shape);
    let outcome = load.run().map_err(BenchError::Serve)?;
    let open = Load {
        id_prefix: "OPEN".to_owned(),
        transits: shape.open_transits.saturating_sub(shape.transits),
        batch: 10,
        batches: 1,
        ..load
    };
    if open.transits > 0 {
        let opened = open.run().map_err(BenchError::Serve)?;
        if opened.errors > 0 {
            return Err(BenchError::Serve(format!(
                "{} of the open transits' batches failed: {:?}",
                opened.errors, opened.shown_errors
            )));
        }
    }
    let rss_mib = rss_mib(server.child.id())?;
    drop(server);
    Ok(EndToEnd {
        shape,
        load: outcome,
        rss_mib,
        with_shadow: ingest_with_shadow(escort, cache, shape)?,
    })
}

/// The timed part of `shape`'s load on a fresh server that runs the
/// built-in speed policy in shadow (published with `?mode=shadow`), so
/// every batch runs one policy more.
fn ingest_with_shadow(escort: &Path, cache: &ComponentCache, shape: Shape) -> Result<LoadOutcome, BenchError> {
    let publish = |url: &str| {
        let speed = escort_builtin::component("speed").expect("speed is a built-in policy");
        ureq::put(format!("{url}/v1/policies/speed?mode=shadow"))
            .header("Authorization", format!("Bearer {REGULATOR_TOKEN}"))
            .send(speed)
            .map_err(|e| BenchError::Serve(format!("publishing the shadow version: {e}")))?;
        // A publication takes effect at the next whole second.
        std::thread::sleep(std::time::Duration::from_millis(1_100));
        Ok(())
    };
    ingest_on_a_fresh_server(escort, cache, shape, "SHADOW", publish, |_| Ok(()))
}

/// Starts `escort` as a server on a fresh data folder and runs the timed
/// part of `shape`'s load while `beside` runs on another thread; `beside`
/// is told to stop when the load is done. What the load saw.
pub fn ingest_beside(
    escort: &Path,
    cache: &ComponentCache,
    shape: Shape,
    beside: impl FnOnce(&AtomicBool) -> Result<(), String> + Send,
) -> Result<LoadOutcome, BenchError> {
    ingest_on_a_fresh_server(escort, cache, shape, "BESIDE", |_| Ok(()), beside)
}

/// Starts `escort` as a server on a fresh data folder, readies it with
/// `prepare` (given its URL), and runs the timed part of `shape`'s load
/// (transit ids beginning with `id_prefix`) while `beside` runs on another
/// thread, told to stop when the load is done. What the load saw.
fn ingest_on_a_fresh_server(
    escort: &Path,
    cache: &ComponentCache,
    shape: Shape,
    id_prefix: &str,
    prepare: impl FnOnce(&str) -> Result<(), BenchError>,
    beside: impl FnOnce(&AtomicBool) -> Result<(), String> + Send,
) -> Result<LoadOutcome, BenchError> {
    let folder = tempfile::tempdir().map_err(|e| BenchError::Serve(format!("a data folder: {e}")))?;
    let server = start(escort, folder.path(), cache)?;
    prepare(&server.url)?;
    let load = timed_load(&server.url, id_prefix, shape);
    let stop = AtomicBool::new(false);
    let (outcome, besides) = std::thread::scope(|scope| {
        let besides = scope.spawn(|| beside(&stop));
        let outcome = load.run();
        stop.store(true, Ordering::Relaxed);
        (outcome, besides.join())
    });
    besides
        .map_err(|_| BenchError::Serve("what ran beside the load panicked".to_owned()))?
        .map_err(BenchError::Serve)?;
    let outcome = outcome.map_err(BenchError::Serve)?;
    if outcome.errors > 0 {
        return Err(BenchError::Serve(format!(
            "{} batches of the {id_prefix} load failed: {:?}",
            outcome.errors, outcome.shown_errors
        )));
    }
    Ok(outcome)
}

/// The timed part of `shape`'s load against the server at `url`, its
/// transits' ids beginning with `id_prefix`.
fn timed_load(url: &str, id_prefix: &str, shape: Shape) -> Load {
    Load {
        url: url.to_owned(),
        token: TOKEN.to_owned(),
        id_prefix: id_prefix.to_owned(),
        transits: shape.transits,
        concurrency: shape.concurrency,
        batch: shape.batch,
        batches: shape.batches,
    }
}

fn start(escort: &Path, folder: &Path, cache: &ComponentCache) -> Result<Server, BenchError> {
    let cache = match cache.dir() {
        Some(dir) => format!("cache = {:?}\n", dir.display().to_string()),
        None => String::new(),
    };
    let config = format!(
        "listen = \"127.0.0.1:0\"\ndata = {:?}\n{cache}tick_seconds = 0\n\n[[token]]\nname = \"bench\"\nrole = \"ingest\"\ntoken = \"{TOKEN}\"\n\n\
         [[token]]\nname = \"bench-regulator\"\nrole = \"regulator\"\ntoken = \"{REGULATOR_TOKEN}\"\n",
        folder.join("data").display().to_string(),
    );
    let config_path = folder.join("escort.toml");
    std::fs::write(&config_path, config).map_err(|e| BenchError::Serve(format!("{}: {e}", config_path.display())))?;
    let mut child = Command::new(escort)
        .arg("serve")
        .arg("--config")
        .arg(&config_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| BenchError::Serve(format!("cannot start {}: {e}", escort.display())))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut server = Server {
        child,
        url: String::new(),
    };
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| BenchError::Serve(e.to_string()))?;
        if let Some(url) = line.strip_prefix("escort: listening on ") {
            server.url = url.trim().to_owned();
            return Ok(server);
        }
    }
    Err(BenchError::Serve("the server stopped before it listened".to_owned()))
}

/// A process's resident memory, from `/proc`.
fn rss_mib(pid: u32) -> Result<f64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| BenchError::Serve(format!("the server's memory: {e}")))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .ok_or_else(|| BenchError::Serve("no VmRSS in /proc/PID/status".to_owned()))
}
