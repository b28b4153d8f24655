//! A real `escort serve` on loopback with its own data folder, and a small
//! HTTP client for it.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub const INGEST: &str = "ingest-secret-for-the-tests";
pub const OFFICER: &str = "officer-secret-for-the-tests";
pub const REGULATOR: &str = "regulator-secret-for-the-tests";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the cli crate lives in host/cli of the workspace")
        .to_owned()
}

pub fn scenario(name: &str) -> PathBuf {
    workspace().join("tests/scenarios").join(name)
}

/// The hostile test policy (`tests/hostile`), built from the repository's
/// sources once per test run.
pub fn hostile_component() -> &'static [u8] {
    static COMPONENT: OnceLock<Vec<u8>> = OnceLock::new();
    COMPONENT.get_or_init(|| {
        let out = workspace().join("target/escort-test-hostile");
        let built = escort_policy_build::build_components(&workspace(), &["escort-hostile-policy"], &out)
            .expect("the hostile policy builds");
        fs::read(&built[0]).expect("the hostile component is readable")
    })
}

/// Runs the `escort` binary with the tests' component cache.
pub fn escort(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_escort"))
        .args(args)
        .env("ESCORT_CACHE_DIR", workspace().join("target/escort-test-cache"))
        .output()
        .expect("escort runs")
}

/// A bundle of the hostile policy in `dir/hostile`, with one golden
/// scenario (the battery scenario `escort policy new` ships), blessed.
pub fn hostile_bundle(dir: &Path) -> PathBuf {
    let bundle = dir.join("hostile");
    let example = bundle.join("scenarios/example");
    fs::create_dir_all(&example).unwrap();
    fs::write(bundle.join("policy.wasm"), hostile_component()).unwrap();
    fs::write(
        bundle.join("policy.toml"),
        "id = \"hostile\"\nversion = \"6.6.6\"\ndescription = \"Misbehaves on purpose.\"\n\
         contract = \"escort:policy@0.1.0\"\nlanguage = \"rust\"\nauthors = [\"the tests\"]\n\
         [params]\nbehaviour = \"well\"\nturns = 100000000\npositions = 1000000\nvictim = \"\"\nwhen = \"fixes\"\n",
    )
    .unwrap();
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/scenario");
    for file in ["transit.json", "fixes.ndjson"] {
        fs::copy(templates.join(file), example.join(file)).unwrap();
    }
    let blessed = escort(&["test", "--bless", bundle.to_str().unwrap()]);
    assert!(blessed.status.success(), "{}", String::from_utf8_lossy(&blessed.stdout));
    bundle
}

/// A tar archive of a bundle's folder: what `PUT /v1/policies/{id}` takes.
pub fn tar_of(dir: &Path) -> Vec<u8> {
    let mut archive = tar::Builder::new(Vec::new());
    archive.append_dir_all(".", dir).expect("the bundle is readable");
    archive.into_inner().expect("the archive is complete")
}

/// A running `escort serve`, stopped with SIGKILL when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    agent: ureq::Agent,
}

/// Settings for `escort.toml`; the tokens are always the three above.
pub fn settings(overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let cache = workspace().join("target/escort-test-cache");
    let mut settings = BTreeMap::from([
        ("listen".to_owned(), "\"127.0.0.1:0\"".to_owned()),
        ("data".to_owned(), "\"data\"".to_owned()),
        ("cache".to_owned(), format!("{:?}", cache.display().to_string())),
        ("tick_seconds".to_owned(), "0".to_owned()),
        ("policy_poll_seconds".to_owned(), "0.1".to_owned()),
    ]);
    for (key, value) in overrides {
        settings.insert((*key).to_owned(), (*value).to_owned());
    }
    settings
}

/// Starts `escort serve` on `dir/escort.toml`, its stderr to `stderr`, and
/// reads the first line it prints: `escort: listening on …` once it
/// serves, nothing when it exits first.
fn spawn_serve(dir: &Path, stderr: Stdio) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_escort"))
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
        // A hung server fails the test instead of hanging the suite.
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .into();
        Server {
            child,
            url: address.to_owned(),
            dir: dir.to_owned(),
            _temp: None,
            agent,
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Stops the server as a crash would: SIGKILL, no chance to clean up.
    pub fn kill(&mut self) {
        self.child.kill().expect("the server can be killed");
        self.child.wait().expect("the server is reaped");
    }

    /// Stops the server as an operator would: SIGTERM, then waits.
    pub fn stop(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.child.wait().expect("the server stops");
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

    pub fn put_transit(&self, id: &str, declaration: &str) -> (u16, Value) {
        self.json(
            "PUT",
            &format!("/v1/transits/{id}"),
            Some(INGEST),
            declaration.as_bytes(),
        )
    }

    pub fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        self.json("GET", path, Some(token), b"")
    }

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

/// A transit declaration from a scenario, under another id.
pub fn transit_as(name: &str, id: &str) -> String {
    let text = fs::read_to_string(scenario(name).join("transit.json")).expect("transit readable");
    let mut value: Value = serde_json::from_str(&text).expect("transit is JSON");
    value["id"] = Value::String(id.to_owned());
    value.to_string()
}

/// A scenario's transit under another id and its first `count` fixes as
/// NDJSON, every time in both moved by the same amount, so that the last of
/// those fixes is at `last_fix_at`: a transit that is under way now.
pub fn moved(name: &str, id: &str, count: usize, last_fix_at: DateTime<Utc>) -> (String, String) {
    let mut fixes: Vec<Value> = fs::read_to_string(scenario(name).join("fixes.ndjson"))
        .expect("fixes readable")
        .lines()
        .take(count)
        .map(|line| serde_json::from_str(line).expect("a fix is JSON"))
        .collect();
    let time = |value: &Value| -> DateTime<Utc> { value.as_str().expect("a time").parse().expect("an RFC 3339 time") };
    let shift = last_fix_at - time(&fixes.last().expect("a fix to take")["at"]);
    let mut transit: Value = serde_json::from_str(&transit_as(name, id)).expect("transit is JSON");
    for field in ["opened_at", "deadline"] {
        transit[field] = Value::String((time(&transit[field]) + shift).to_rfc3339());
    }
    let mut ndjson = String::new();
    for fix in &mut fixes {
        fix["at"] = Value::String((time(&fix["at"]) + shift).to_rfc3339());
        ndjson.push_str(&format!("{fix}\n"));
    }
    (transit.to_string(), ndjson)
}

/// What `escort check` prints for a transit and fixes, with an optional
/// evaluation clock: the golden report the service must agree with.
pub fn check(transit: &Path, fixes: &Path, now: Option<&str>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_escort"));
    command
        .args(["check", "--format", "json", "--transit"])
        .arg(transit)
        .arg("--fixes")
        .arg(fixes)
        .env("ESCORT_CACHE_DIR", workspace().join("target/escort-test-cache"));
    if let Some(now) = now {
        command.args(["--now", now]);
    }
    let output = command.output().expect("escort check runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8 report")
}

/// Runs `escort audit verify --data DATA`: its exit status and stdout.
pub fn audit_verify(data: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_escort"))
        .args(["audit", "verify", "--data"])
        .arg(data)
        .output()
        .expect("escort audit verify runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// The hostile test policy as a bare component in the live policy folder
/// of a server that is to run on `dir`, configured by `config`: the tables
/// of `policies.toml` for it (`[hostile]` with its limits, then
/// `[hostile.params]`).
pub fn live_hostile(dir: &Path, config: &str) {
    let live = dir.join("data/policies");
    fs::create_dir_all(&live).unwrap();
    fs::write(live.join("hostile.wasm"), hostile_component()).unwrap();
    fs::write(live.join("policies.toml"), config).unwrap();
}

/// The value of one series in a `GET /metrics` text (`name{labels}`), if
/// it is there.
pub fn metric(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

/// Waits up to 30 s for `condition`, checking every 50 ms.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(started.elapsed().as_secs() < 30, "timed out waiting until {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A small deterministic generator of batch sizes.
pub struct Sizes(u64);

impl Sizes {
    pub fn new(seed: u64) -> Sizes {
        Sizes(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    }

    /// A size from 1 to `max`.
    pub fn next(&mut self, max: u64) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % max + 1) as usize
    }
}

/// Copies a folder and everything in it.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl Server {
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

    /// Sends SIGTERM and waits, up to `limit`, for the server to exit; its
    /// exit status and how long it took, or `None` if it is still running
    /// (then it is killed when dropped).
    pub fn terminate_within(
        &mut self,
        limit: std::time::Duration,
    ) -> Option<(std::process::ExitStatus, std::time::Duration)> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let sent = std::time::Instant::now();
        while sent.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("the server can be waited for") {
                return Some((status, sent.elapsed()));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
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
