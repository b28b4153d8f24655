//! `escort policy publish|promote|rollback|versions|shadow --service URL`: a
//! regulator's side of a running service's policy API (`docs/service.md` §
//! The API), so that the steps of a change of rule (publish in shadow, look
//! at the disagreement, promote from a date, roll back) are commands rather
//! than hand-made `curl` lines.
//!
//! The token comes from `ESCORT_TOKEN`, never from the command line, where
//! every user of the machine could read it. A bundle goes as the archive the
//! service takes: its manifest, component, signature, own `policies.toml`
//! and scenarios, regular files only. What the service answers is printed
//! as it is (JSON); a refusal is one line on stderr, the service's own
//! words, and exit status 2.

use std::fs;
use std::path::Path;
use std::time::Duration;

use escort_bundle::Bundle;

use super::Unusable;

/// The environment variable that holds the token.
pub(super) const TOKEN_VARIABLE: &str = "ESCORT_TOKEN";

/// How long one request may take: a publish compiles the component and runs
/// the bundle's golden scenarios before it answers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// A running service, as one regulator or officer asks it.
pub(super) struct Service {
    url: String,
    token: String,
    agent: ureq::Agent,
}

impl Service {
    /// The service at `url` (`http://host:port`, without `/v1`), with the
    /// token from [`TOKEN_VARIABLE`].
    pub(super) fn at(url: &str) -> Result<Service, Unusable> {
        let token = std::env::var(TOKEN_VARIABLE)
            .map_err(|_| Unusable(format!("set {TOKEN_VARIABLE} to the token to send to the service")))?;
        Ok(Service {
            url: url.trim_end_matches('/').to_owned(),
            token,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(REQUEST_TIMEOUT))
                .build()
                .into(),
        })
    }

    /// `GET path`: the answer's JSON, or the service's refusal.
    pub(super) fn get(&self, path: &str) -> Result<String, Unusable> {
        let answer = self
            .agent
            .get(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {}", self.token))
            .call();
        self.answer(path, answer)
    }

    /// `method path` with `body`: the answer's JSON, or the service's refusal.
    pub(super) fn send(&self, method: &str, path: &str, body: &[u8]) -> Result<String, Unusable> {
        let url = format!("{}{path}", self.url);
        let request = match method {
            "PUT" => self.agent.put(url),
            _ => self.agent.post(url),
        };
        let answer = request
            .header("Authorization", format!("Bearer {}", self.token))
            .send(body);
        self.answer(path, answer)
    }

    fn answer(
        &self,
        path: &str,
        answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, Unusable> {
        let mut answer = answer.map_err(|e| Unusable(format!("{}{path}: {e}", self.url)))?;
        let status = answer.status();
        let text = answer
            .body_mut()
            .read_to_string()
            .map_err(|e| Unusable(format!("{}{path}: the answer: {e}", self.url)))?;
        if status.is_success() {
            return Ok(text);
        }
        let said = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|value| value["error"].as_str().map(str::to_owned))
            .unwrap_or(text);
        Err(Unusable(format!("the service answered {}: {said}", status.as_u16())))
    }
}

/// What `escort policy publish PATH` sends: a bare component's bytes, or a
/// bundle's files as a tar archive.
pub(super) fn upload(path: &Path) -> Result<Vec<u8>, Unusable> {
    if !path.is_dir() {
        return fs::read(path).map_err(|e| Unusable(format!("{}: {e}", path.display())));
    }
    let files = Bundle::open(path)?.files()?;
    let mut archive = tar::Builder::new(Vec::new());
    // A link is sent as a link, which the service refuses by name.
    archive.follow_symlinks(false);
    for file in &files {
        archive
            .append_path_with_name(path.join(file), file)
            .map_err(|e| Unusable(format!("{}: {e}", path.join(file).display())))?;
    }
    archive
        .into_inner()
        .map_err(|e| Unusable(format!("{}: {e}", path.display())))
}
