//! A real `escort serve` on loopback with its own data folder, and a small
//! HTTP client for it. The configuration always names the tests' component
//! cache, a port the system picks and three tokens, one per role.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::binary::escort_command;
use crate::workspace::cache_dir;

/// The ingest token of every server the tests start.
pub const INGEST: &str = "ingest-secret-for-the-tests";
/// The officer token of every server the tests start.
pub const OFFICER: &str = "officer-secret-for-the-tests";
/// The regulator token of every server the tests start.
pub const REGULATOR: &str = "regulator-secret-for-the-tests";

/// Settings for `escort.toml`, each value as TOML: the tests' defaults
/// (loopback on a free port, data in `data`, the tests' cache, no tick, a
/// quick policy poll) with `overrides` over them. The tokens are always the
/// three above.
pub fn settings(overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::from([
        ("listen".to_owned(), "\"127.0.0.1:0\"".to_owned()),
        ("data".to_owned(), "\"data\"".to_owned()),
        ("cache".to_owned(), format!("{:?}", cache_dir().display().to_string())),
        ("tick_seconds".to_owned(), "0".to_owned()),
        ("policy_poll_seconds".to_owned(), "0.1".to_owned()),
    ]);
    for (key, value) in overrides {
        settings.insert((*key).to_owned(), (*value).to_owned());
    }
    settings
}

/// A running `escort serve`, stopped with SIGKILL when dropped.
pub struct Server {
    child: Child,
    /// `http://HOST:PORT`, as the server announced it.
    pub url: String,
    /// The folder of its `escort.toml` and `stderr.log`.
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    client: Client,
}

/// An HTTP client of one server: requests by path, with a token, and a
/// timeout that turns a hung server into a failed test instead of a hung
/// suite.
pub struct Client {
    url: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `url` (`http://HOST:PORT`, or a mount point under it).
    pub fn new(url: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Client {
            url: url.to_owned(),
            agent,
        }
    }

    /// Sends a request; returns the status and the body.
    pub fn request(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let request = request.body(body.to_vec()).expect("a well-formed request");
        let mut response = self.agent.run(request).expect("the server answers");
        let status = response.status().as_u16();
        let mut text = String::new();
        response
            .body_mut()
            .as_reader()
            .read_to_string(&mut text)
            .expect("a UTF-8 body");
        (status, text)
    }

    /// Sends a request and reads the answer as JSON.
    pub fn json(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
        let (status, text) = self.request(method, path, token, body);
        let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        (status, value)
    }
}

impl Server {
    /// A server in a new temporary folder.
    pub fn start(overrides: &[(&str, &str)]) -> Server {
        let temp = tempfile::tempdir().expect("a temporary folder");
        let mut server = Server::start_in(temp.path(), overrides);
        server._temp = Some(temp);
        server
    }

    /// A server on the data of `dir` (a restart, when one ran there before).
    pub fn start_in(dir: &Path, overrides: &[(&str, &str)]) -> Server {
        Server::start_configured(dir, overrides, true)
    }

    /// A server whose configuration names no tokens, so that it uses (and
    /// on its first start, creates) its own.
    pub fn start_without_tokens(dir: &Path) -> Server {
        Server::start_configured(dir, &[], false)
    }

    fn start_configured(dir: &Path, overrides: &[(&str, &str)], tokens: bool) -> Server {
        let mut config = String::new();
        for (key, value) in settings(overrides) {
            config.push_str(&format!("{key} = {value}\n"));
        }
        let roles = [("ingest", INGEST), ("officer", OFFICER), ("regulator", REGULATOR)];
        for (role, token) in roles.into_iter().filter(|_| tokens) {
            config.push_str(&format!(
                "[[token]]\nname = \"test-{role}\"\nrole = \"{role}\"\ntoken = \"{token}\"\n"
            ));
        }
        fs::write(dir.join("escort.toml"), config).expect("config written");
        let stderr = fs::File::create(dir.join("stderr.log")).expect("log file");
        let (mut child, line) = spawn_serve(dir, stderr.into());
        let Some(address) = line.trim().strip_prefix("escort: listening on ") else {
            let _ = child.wait();
            panic!(
                "escort serve did not start: {line:?}\n{}",
                fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
            );
        };
        Server {
            child,
            url: address.to_owned(),
            dir: dir.to_owned(),
            _temp: None,
            client: Client::new(address),
        }
    }

    /// The server's data folder.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// What the server has written to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `HOST:PORT` the server listens on, for a raw socket.
    pub fn address(&self) -> &str {
        self.url
            .strip_prefix("http://")
            .expect("the server's url is http://HOST:PORT")
    }

    /// Stops the server as a crash would: SIGKILL, no chance to clean up.
    pub fn kill(&mut self) {
        self.child.kill().expect("the server can be killed");
        self.child.wait().expect("the server is reaped");
    }

    /// Stops the server as an operator would: SIGTERM, then waits.
    pub fn stop(&mut self) {
        self.send_sigterm();
        self.child.wait().expect("the server stops");
    }

    /// Sends SIGTERM and waits, up to `limit`, for the server to exit; its
    /// exit status and how long it took, or `None` if it is still running
    /// (then it is killed when dropped).
    pub fn terminate_within(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        self.send_sigterm();
        let sent = Instant::now();
        while sent.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("the server can be waited for") {
                return Some((status, sent.elapsed()));
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn send_sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Sends a request; returns the status and the body.
    pub fn request(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
        self.client.request(method, path, token, body)
    }

    /// Sends a request and reads the answer as JSON.
    pub fn json(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
        self.client.json(method, path, token, body)
    }

    /// Declares transit `id` with the ingest token.
    pub fn put_transit(&self, id: &str, declaration: &str) -> (u16, Value) {
        self.json(
            "PUT",
            &format!("/v1/transits/{id}"),
            Some(INGEST),
            declaration.as_bytes(),
        )
    }

    /// Reads `path` as JSON with `token`.
    pub fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        self.json("GET", path, Some(token), b"")
    }

    /// Sends fixes (NDJSON) for transit `id` with the ingest token.
    pub fn post_fixes(&self, id: &str, ndjson: &str) -> (u16, Value) {
        self.json(
            "POST",
            &format!("/v1/transits/{id}/fixes"),
            Some(INGEST),
            ndjson.as_bytes(),
        )
    }

    /// Closes a transit with the ingest token; `body` is the close request
    /// (`{"reason": …, "at": …}`). The answer as the exact bytes sent.
    pub fn close(&self, id: &str, body: &str) -> (u16, String) {
        self.request(
            "POST",
            &format!("/v1/transits/{id}/close"),
            Some(INGEST),
            body.as_bytes(),
        )
    }

    /// The report as of `now`, as the exact bytes the server sent.
    pub fn report(&self, id: &str, now: Option<&str>) -> (u16, String) {
        let query = now.map(|now| format!("?now={now}")).unwrap_or_default();
        self.request("GET", &format!("/v1/transits/{id}{query}"), Some(OFFICER), b"")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `escort serve` on `dir/escort.toml`, its stderr to `stderr`, and
/// reads the first line it prints: `escort: listening on …` once it
/// serves, nothing when it exits first.
fn spawn_serve(dir: &Path, stderr: Stdio) -> (Child, String) {
    let mut child = escort_command()
        .args(["serve", "--config"])
        .arg(dir.join("escort.toml"))
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("escort serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("stdout is readable");
    (child, line)
}

/// Runs `escort serve` on the configuration a server in `dir` was started
/// with, expecting it to refuse to start: its exit status and stderr. One
/// that starts instead is stopped and fails the test.
pub fn serve_refused(dir: &Path) -> (Option<i32>, String) {
    let (mut child, line) = spawn_serve(dir, Stdio::piped());
    if !line.is_empty() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("a second escort serve started on {}: {line:?}", dir.display());
    }
    let output = child.wait_with_output().expect("the refused server is reaped");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The value of one series in a `GET /metrics` text (`name{labels}`), if
/// it is there.
pub fn metric(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

/// Waits up to 30 s for `condition`, checking every 50 ms: for what a
/// server does in the background (a tick, a policy poll, a commit).
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed().as_secs() < 30, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(50));
    }
}
