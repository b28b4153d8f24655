//! `escort.toml`: what `escort serve` is told, with a default for everything
//! so that the service starts with no file at all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ServiceError;
use super::live::DEFAULT_PUBLISH_WAIT;
use crate::access::TokenConfig;
use escort_bundle::Trust;
use escort_engine::ComponentCache;
use escort_engine::{LoadLimits, Sandbox};

/// The service's configuration.
///
/// # Examples
/// ```
/// use escort_service::ServeConfig;
/// let config = ServeConfig::from_toml(r#"
///     listen = "127.0.0.1:9090"
///     tick_seconds = 30
///     [[token]]
///     name = "gateway-1"
///     role = "ingest"
///     token = "a-long-random-secret"
/// "#, std::path::Path::new(".")).unwrap();
/// assert_eq!(config.listen.port(), 9090);
/// assert_eq!(config.tokens.len(), 1);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// The data folder: the database and, without `policies`, the live
    /// policy folder.
    pub data: PathBuf,
    /// The live policy folder, watched for changes; `DATA/policies` when absent.
    pub policies: Option<PathBuf>,
    /// Where compiled policies are cached; `DATA/cache` when absent.
    pub cache: Option<PathBuf>,
    /// Seconds between evaluations of open transits for the passing of
    /// time; 0 turns the tick off.
    pub tick_seconds: u64,
    /// How far past the service's clock a fix may be dated, seconds:
    /// receivers' clocks drift. A fix dated later is refused (one
    /// rejection; the rest of its batch is kept), and so is a close
    /// (`POST /v1/transits/{id}/close`) whose `at` is: one fix a year ahead
    /// would make every later batch of its transit a late one, evaluated
    /// again from the first fix.
    pub max_fix_lead_seconds: u64,
    /// Seconds between looks at the live policy folder.
    pub policy_poll_seconds: f64,
    /// Largest request body, bytes (a transit or a batch of fixes).
    pub max_body_bytes: usize,
    /// Largest policy upload, bytes; also the most a bundle's archive may
    /// unpack to.
    pub max_policy_bytes: usize,
    /// Longest a publish waits for another publish (or a reload of the
    /// live folder) to end, seconds; then it is refused with 409, and the
    /// regulator sends it again.
    pub publish_wait_seconds: f64,
    /// Longest a client may take to send a request's headers, seconds:
    /// from the connection's opening, or from the first byte of a later
    /// request on it. A connection that takes longer is closed unanswered.
    pub header_timeout_seconds: f64,
    /// Longest a client may take to send a request's whole body once its
    /// headers are in, seconds; a request that takes longer is answered
    /// `408` and its connection closed.
    pub body_timeout_seconds: f64,
    /// Longest a connection may wait for its next request after an
    /// answer, seconds; then it is closed.
    pub idle_timeout_seconds: f64,
    /// Most connections open at once. Past it the service accepts no more
    /// (they wait in the operating system's backlog) until one closes. It
    /// is lowered at start to what the open-file limit (`ulimit -n`)
    /// leaves room for.
    pub max_connections: usize,
    /// Longest the service waits, seconds, once told to stop (SIGTERM,
    /// SIGINT), for the requests in progress and a running tick to
    /// finish; then it exits anyway, and what was still running is never
    /// answered.
    pub shutdown_grace_seconds: f64,
    /// Longest a policy's compilation may take, seconds; a component that
    /// takes longer is refused (see [`crate::LoadLimits`]).
    pub compile_timeout_seconds: f64,
    /// How many transits the service keeps in memory at most as their last
    /// step left them (record, parsed declaration with its route indexed,
    /// policy states), so that a batch reads, parses and indexes nothing;
    /// 0 keeps none. The others are read from the database when they need
    /// it.
    pub cached_transits: usize,
    /// How many bytes those transits may hold at most, by an estimate of
    /// each (mostly its route, declared and indexed: about 25 KiB with a
    /// 300-point route); 0 keeps none. Each transit counts for at least
    /// this over `cached_transits`, so that both bounds hold.
    pub cached_transit_bytes: u64,
    /// Public keys (hex) whose signed bundles the service loads. When any are
    /// given, bare components and unsigned or otherwise signed bundles are
    /// refused.
    pub trusted_keys: Vec<String>,
    /// Access tokens. When there are none, the service uses the ones it
    /// created on its first start (see [`crate::service::Access`]).
    #[serde(rename = "token")]
    pub tokens: Vec<TokenConfig>,
    /// The deployment's time zone, an IANA name: the officers' page and
    /// the text report show times in it beside UTC.
    pub timezone: String,
    /// A tile server's URL template (`https://HOST/{z}/{x}/{y}.png`) for
    /// the officers' page; without one the map shows country borders only,
    /// which the binary carries.
    pub map_tiles: Option<String>,
    /// How long an officer's sign-in on the page lasts, hours; then the
    /// page asks for the token again.
    pub session_hours: f64,
}

/// The longest `session_hours` may be: a month of shifts.
const MAX_SESSION_HOURS: f64 = 720.0;

/// The time zone of a deployment that names none: Kazakhstan's customs
/// offices keep Almaty time.
pub const DEFAULT_TIMEZONE: &str = "Asia/Almaty";

/// The defaults of every setting, for a missing file or a missing line.
impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("escort-data"),
            policies: None,
            cache: None,
            tick_seconds: 60,
            max_fix_lead_seconds: 300,
            policy_poll_seconds: 2.0,
            max_body_bytes: 8 << 20,
            max_policy_bytes: 64 << 20,
            publish_wait_seconds: DEFAULT_PUBLISH_WAIT.as_secs_f64(),
            header_timeout_seconds: 10.0,
            body_timeout_seconds: 60.0,
            idle_timeout_seconds: 60.0,
            max_connections: 1000,
            shutdown_grace_seconds: 10.0,
            compile_timeout_seconds: LoadLimits::default().compile_timeout.as_secs_f64(),
            cached_transits: 10_000,
            cached_transit_bytes: 256 << 20,
            trusted_keys: Vec::new(),
            tokens: Vec::new(),
            timezone: DEFAULT_TIMEZONE.to_owned(),
            map_tiles: None,
            session_hours: 8.0,
        }
    }
}

/// Why `escort.toml` is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a setting is unknown or of the wrong type.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A setting is out of range or contradicts another.
    #[error("{0}")]
    Invalid(String),
}

impl ServeConfig {
    /// Reads `escort.toml`. Relative paths in it are taken from the file's
    /// own folder, so the service finds its data wherever it is started.
    pub fn from_path(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        ServeConfig::from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses the text of `escort.toml`; relative paths are taken from `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<ServeConfig, ConfigError> {
        let mut config: ServeConfig = toml::from_str(text)?;
        config.data = base.join(&config.data);
        config.policies = config.policies.map(|dir| base.join(dir));
        config.cache = config.cache.map(|dir| base.join(dir));
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |reason: String| Err(ConfigError::Invalid(reason));
        seconds("policy_poll_seconds", self.policy_poll_seconds)?;
        seconds("compile_timeout_seconds", self.compile_timeout_seconds)?;
        seconds("publish_wait_seconds", self.publish_wait_seconds)?;
        seconds("header_timeout_seconds", self.header_timeout_seconds)?;
        seconds("body_timeout_seconds", self.body_timeout_seconds)?;
        seconds("idle_timeout_seconds", self.idle_timeout_seconds)?;
        seconds("shutdown_grace_seconds", self.shutdown_grace_seconds)?;
        if max_fix_lead(self.max_fix_lead_seconds).is_none() {
            return invalid(format!(
                "max_fix_lead_seconds must be at most {} seconds, not {}",
                MAX_FIX_LEAD_SECONDS, self.max_fix_lead_seconds
            ));
        }
        if self.max_body_bytes == 0 || self.max_policy_bytes == 0 {
            return invalid("max_body_bytes and max_policy_bytes must be above 0".to_owned());
        }
        if !(self.session_hours > 0.0 && self.session_hours <= MAX_SESSION_HOURS) {
            return invalid(format!(
                "session_hours must be above 0 and at most {MAX_SESSION_HOURS}, not {:?}",
                self.session_hours
            ));
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return invalid(format!(
                "timezone must be an IANA time zone name such as {DEFAULT_TIMEZONE:?}, not {:?}",
                self.timezone
            ));
        }
        if let Some(tiles) = &self.map_tiles
            && !(["{z}", "{x}", "{y}"].iter().all(|part| tiles.contains(part))
                && (tiles.starts_with("https://") || tiles.starts_with("http://")))
        {
            return invalid(format!(
                "map_tiles must be an http(s) URL template with {{z}}, {{x}} and {{y}}, not {tiles:?}"
            ));
        }
        if self.max_connections == 0 {
            return invalid("max_connections must be above 0".to_owned());
        }
        for token in &self.tokens {
            match (&token.token, &token.token_sha256) {
                (Some(secret), None) if secret.len() < 16 => {
                    return invalid(format!(
                        "token `{}` is {} characters; use at least 16 random ones",
                        token.name,
                        secret.len()
                    ));
                }
                (Some(_), None) => {}
                (None, Some(hash)) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {}
                (None, Some(_)) => {
                    return invalid(format!("token `{}`: token_sha256 must be 64 hex digits", token.name));
                }
                _ => {
                    return invalid(format!(
                        "token `{}` needs exactly one of `token` and `token_sha256`",
                        token.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The live policy folder.
    pub fn policy_dir(&self) -> PathBuf {
        self.policies.clone().unwrap_or_else(|| self.data.join("policies"))
    }

    /// The compiled-policy cache.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache.clone().unwrap_or_else(|| self.data.join("cache"))
    }

    /// The bounds on loading the policies the service compiles: the
    /// configured compile timeout, and [`LoadLimits`]'s size bound (which
    /// the built-in policies must meet too, so it is not tied to the
    /// upload limit).
    pub fn load_limits(&self) -> LoadLimits {
        LoadLimits {
            compile_timeout: seconds("compile_timeout_seconds", self.compile_timeout_seconds)
                .unwrap_or(LoadLimits::default().compile_timeout),
            ..LoadLimits::default()
        }
    }

    /// The WebAssembly engine the service's policies run in, with the
    /// configured cache and load limits.
    pub fn sandbox(&self) -> Result<Sandbox, ServiceError> {
        Ok(Sandbox::with_cache(ComponentCache::in_dir(self.cache_dir()))
            .map_err(|e| ServiceError::Setup(format!("starting the WebAssembly engine: {e}")))?
            .with_load_limits(self.load_limits()))
    }

    /// The signers whose bundles the service loads.
    pub fn trust(&self) -> Result<Trust, ServiceError> {
        Trust::keys(self.trusted_keys.iter().map(String::as_str)).map_err(ServiceError::Setup)
    }

    /// How often the live policy folder is looked at.
    pub fn policy_poll(&self) -> Duration {
        seconds("policy_poll_seconds", self.policy_poll_seconds)
            .unwrap_or(Duration::from_secs_f64(ServeConfig::default().policy_poll_seconds))
    }

    /// How long a publish waits for another to end.
    pub fn publish_wait(&self) -> Duration {
        seconds("publish_wait_seconds", self.publish_wait_seconds).unwrap_or(DEFAULT_PUBLISH_WAIT)
    }

    /// How long a client may take over a request's headers, its body, and
    /// the wait for its next request; and how long a stop waits.
    pub fn edge_timeouts(&self) -> EdgeTimeouts {
        let defaults = ServeConfig::default();
        let setting = |name, value, default| seconds(name, value).unwrap_or(Duration::from_secs_f64(default));
        EdgeTimeouts {
            header: setting(
                "header_timeout_seconds",
                self.header_timeout_seconds,
                defaults.header_timeout_seconds,
            ),
            body: setting(
                "body_timeout_seconds",
                self.body_timeout_seconds,
                defaults.body_timeout_seconds,
            ),
            idle: setting(
                "idle_timeout_seconds",
                self.idle_timeout_seconds,
                defaults.idle_timeout_seconds,
            ),
            shutdown_grace: setting(
                "shutdown_grace_seconds",
                self.shutdown_grace_seconds,
                defaults.shutdown_grace_seconds,
            ),
        }
    }

    /// How far past the service's clock a fix or a close may be dated. A
    /// configuration built by hand with more than a clock counts (refused
    /// from a file) falls back to the default.
    pub fn max_fix_lead(&self) -> chrono::TimeDelta {
        max_fix_lead(self.max_fix_lead_seconds)
            .or_else(|| max_fix_lead(ServeConfig::default().max_fix_lead_seconds))
            .unwrap_or_default()
    }

    /// The deployment's time zone. A configuration built by hand with a
    /// name that is none (refused from a file) falls back to the default.
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Asia::Almaty)
    }

    /// How long a sign-in on the officers' page lasts. A configuration
    /// built by hand out of range (refused from a file) falls back to the
    /// default.
    pub fn session_duration(&self) -> Duration {
        Duration::try_from_secs_f64(self.session_hours * 3600.0)
            .ok()
            .filter(|duration| !duration.is_zero() && self.session_hours <= MAX_SESSION_HOURS)
            .unwrap_or(Duration::from_secs(8 * 3600))
    }

    /// The tick's period, or `None` when it is off.
    pub fn tick(&self) -> Option<Duration> {
        (self.tick_seconds > 0).then(|| Duration::from_secs(self.tick_seconds))
    }
}

/// The timeouts of the HTTP edge, from `escort.toml`'s `*_timeout_seconds`
/// and `shutdown_grace_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeTimeouts {
    /// For a request's headers.
    pub header: Duration,
    /// For a request's whole body.
    pub body: Duration,
    /// For the next request on a connection after an answer.
    pub idle: Duration,
    /// For what is in progress when the service is told to stop.
    pub shutdown_grace: Duration,
}

/// A setting in seconds as a duration: above 0, and no more than a clock
/// counts (`1e300` seconds would be no duration at all, and a panic where
/// it is used). A configuration read from a file is refused with the
/// setting's name; one an embedder built by hand falls back to the default
/// where it is used.
fn seconds(name: &str, value: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{name} must be above 0 and at most {} seconds, not {value:?}",
                u64::MAX
            ))
        })
}

/// The most `max_fix_lead_seconds` may be: a hundred years, far past any
/// clock's drift, and a time a clock can still add to its own.
const MAX_FIX_LEAD_SECONDS: u64 = 100 * 366 * 24 * 3600;

fn max_fix_lead(seconds: u64) -> Option<chrono::TimeDelta> {
    (seconds <= MAX_FIX_LEAD_SECONDS)
        .then(|| chrono::TimeDelta::try_seconds(seconds as i64))
        .flatten()
}
