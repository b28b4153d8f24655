//! One headless Chromium driven through chromedriver, as the tests and the
//! benchmark use it: started on a free loopback port with a fresh profile,
//! waited on with a deadline (a page that never draws fails the test with
//! what it showed, it never hangs it), and its console read back.
//!
//! `fantoccini` speaks WebDriver over plain HTTP to chromedriver on
//! loopback, so no TLS stack is built. Reading the console is not in the
//! W3C protocol: chromedriver keeps it at `POST /session/ID/se/log`, sent
//! here as a custom command.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long a view may take to draw before the test fails.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// Debian's Chromium, which `tests/browser/install-chromium` installs.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver, of the same version.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process and one Chromium session of it.
pub struct Browser {
    /// The WebDriver client of the session.
    pub client: Client,
    /// The service the browser is pointed at, `http://HOST:PORT`.
    pub base: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// A line of the browser's console, as chromedriver reports it.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO` or `DEBUG`.
    pub level: String,
    /// The text, with the source location chromedriver prefixes.
    pub message: String,
}

/// chromedriver's console read: the entries since the last read.
#[derive(Debug)]
struct ReadBrowserLog;

impl WebDriverCompatibleCommand for ReadBrowserLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium pointed at `base` (the
    /// server's `http://HOST:PORT`). Every name but loopback's fails to
    /// resolve, so the page cannot reach anything outside the service.
    pub async fn start(base: &str) -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).is_file(),
                "{binary} is missing: run tests/browser/install-chromium"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        // Its own process group, so that dropping the browser ends
        // chromedriver and every Chromium process it started, even when a
        // test panics before it could end the session.
        let driver = std::os::unix::process::CommandExt::process_group(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            0,
        )
        .spawn()
        .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a profile folder");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let webdriver = format!("http://127.0.0.1:{port}/");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(client) => break client,
                // chromedriver may not listen yet.
                Err(_) if started.elapsed() < READY_WITHIN => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no Chromium session from chromedriver on port {port}: {e}"),
            }
        };
        Browser {
            client,
            base: base.trim_end_matches('/').to_owned(),
            driver,
            _profile: profile,
        }
    }

    /// Opens `path` of the service (`/`, `/#/transit/ID`).
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    /// Runs `script` (a function body, `return …`) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `body[data-ready]` is `view` (`signin`, `board`,
    /// `transit`); fails the test after 20 s with what the page showed.
    pub async fn wait_ready(&self, view: &str) {
        self.wait_for(
            &format!("document.body && document.body.getAttribute('data-ready') === '{view}'"),
            &format!("body[data-ready=\"{view}\"]"),
        )
        .await;
    }

    /// Waits until the JavaScript expression `condition` is true; fails
    /// the test after 20 s naming `what` and what the page showed.
    pub async fn wait_for(&self, condition: &str, what: &str) {
        let started = Instant::now();
        let script = format!("return !!({condition});");
        loop {
            // A page still navigating may refuse a script: not ready yet.
            if let Ok(Value::Bool(true)) = self.client.execute(&script, Vec::new()).await {
                return;
            }
            if started.elapsed() > READY_WITHIN {
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let state = self
                    .client
                    .execute(
                        "return [document.body && document.body.getAttribute('data-ready'), \
                         document.body && document.body.innerText.slice(0, 400)];",
                        Vec::new(),
                    )
                    .await
                    .unwrap_or_default();
                let log = self.log().await;
                panic!(
                    "waited {READY_WITHIN:?} for {what} in vain at {url}\n\
                     data-ready and text: {state}\nconsole: {log:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `token` into the sign-in form at `/` and submits it.
    pub async fn sign_in(&self, token: &str) {
        self.open("/").await;
        self.wait_ready("signin").await;
        self.element("#token")
            .await
            .send_keys(token)
            .await
            .expect("typing the token");
        self.element("#signin-submit").await.click().await.expect("submitting");
    }

    /// The one element `css` selects; fails the test naming it when none.
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Every element `css` selects.
    pub async fn elements(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("finding {css}: {e}"))
    }

    /// The attribute `name` of the element `css` selects.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.element(css)
            .await
            .attr(name)
            .await
            .unwrap_or_else(|e| panic!("reading {css}[{name}]: {e}"))
    }

    /// The console since the last read.
    pub async fn log(&self) -> Vec<LogEntry> {
        let answer = match self.client.issue_cmd(ReadBrowserLog).await {
            Ok(answer) => answer,
            Err(e) => panic!("chromedriver gives no console: {e}"),
        };
        let entries = answer.get("value").unwrap_or(&answer);
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| LogEntry {
                level: entry["level"].as_str().unwrap_or_default().to_owned(),
                message: entry["message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    /// Writes a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    /// Ends the session (Chromium quits) and chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
