//! Who may do what: bearer tokens with roles, kept only as SHA-256 hashes.
//!
//! A token is a random secret a client sends as `Authorization: Bearer
//! SECRET`. The service never stores or logs the secret; it hashes what it
//! receives and looks the hash up. Comparing hashes rather than secrets also
//! means the comparison's timing says nothing about the secret.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ServiceError;
use crate::store::Store;
use escort_bundle::write_private;
use escort_engine::content_hash;

/// One access token in `escort.toml`: the secret itself, or only its
/// SHA-256 so that the file holds no secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it, for logs and the audit trail.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The secret a client sends as `Authorization: Bearer SECRET`.
    #[serde(default)]
    pub token: Option<String>,
    /// The SHA-256 of the secret, hex, instead of the secret.
    #[serde(default)]
    pub token_sha256: Option<String>,
}

/// What a token holder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A seal gateway: registers transits and sends fixes.
    Ingest,
    /// A customs officer: reads reports and policies.
    Officer,
    /// A regulator: publishes policies, and reads.
    Regulator,
}

impl Role {
    const ALL: [Role; 3] = [Role::Ingest, Role::Officer, Role::Regulator];

    /// The role's name in `escort.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Officer => "officer",
            Role::Regulator => "regulator",
        }
    }

    fn named(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }

    /// Whether the role may do `action`.
    pub fn may(self, action: Action) -> bool {
        matches!(
            (self, action),
            (Role::Ingest, Action::Ingest)
                | (Role::Officer | Role::Regulator, Action::Read)
                | (Role::Regulator, Action::Publish)
        )
    }
}

/// What a request does, for access control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Register transits, send fixes, close transits.
    Ingest,
    /// Read reports, lists and policies.
    Read,
    /// Upload policies.
    Publish,
}

impl Action {
    fn roles(self) -> String {
        Role::ALL
            .into_iter()
            .filter(|role| role.may(self))
            .map(Role::as_str)
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No usable token: 401.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid token whose role may not do this: 403.
    #[error("{0}")]
    Forbidden(String),
}

/// The tokens the service accepts.
#[derive(Debug, Clone, Default)]
pub struct Access {
    by_hash: HashMap<String, (String, Role)>,
}

/// Tokens the service created on its first start.
#[derive(Debug, Clone)]
pub struct NewTokens {
    /// Where their secrets were written.
    pub path: PathBuf,
}

impl Access {
    /// The tokens of `escort.toml` when it names any; else those stored in
    /// the database; else, on a first start, one new token per role, stored
    /// hashed, with the secrets written once to `DATA/tokens.toml` for the
    /// operator to hand out.
    pub(crate) fn establish(
        configured: &[TokenConfig],
        store: &mut Store,
        data: &Path,
    ) -> Result<(Access, Option<NewTokens>), ServiceError> {
        let mut access = Access::default();
        if !configured.is_empty() {
            for token in configured {
                let hash = match (&token.token, &token.token_sha256) {
                    (Some(secret), _) => token_hash(secret),
                    (None, Some(hash)) => hash.to_ascii_lowercase(),
                    (None, None) => continue,
                };
                access.by_hash.insert(hash, (token.name.clone(), token.role));
            }
            return Ok((access, None));
        }
        let mut stored = store.tokens()?;
        let mut created = None;
        if stored.is_empty() {
            let mut file = String::from(
                "# Access tokens escort created on its first start. Hand each to its holder, then\n\
                 # delete this file: the service keeps only their hashes.\n",
            );
            for role in Role::ALL {
                let secret = new_secret()?;
                let name = format!("first-{}", role.as_str());
                file.push_str(&format!(
                    "\n[[token]]\nname = \"{name}\"\nrole = \"{}\"\ntoken = \"{secret}\"\n",
                    role.as_str()
                ));
                stored.push((name, role.as_str().to_owned(), token_hash(&secret)));
            }
            let path = data.join("tokens.toml");
            write_private(&path, &file).map_err(|e| ServiceError::Setup(format!("{}: {e}", path.display())))?;
            store.add_tokens(&stored)?;
            created = Some(NewTokens { path });
        }
        for (name, role, hash) in stored {
            let role = Role::named(&role)
                .ok_or_else(|| ServiceError::Setup(format!("the database names an unknown role {role:?}")))?;
            access.by_hash.insert(hash, (name, role));
        }
        Ok((access, created))
    }

    /// Checks an `Authorization` header for `action`; returns the holder's name.
    pub fn authorise(&self, header: Option<&str>, action: Action) -> Result<&str, Denied> {
        let Some(header) = header else {
            return Err(Denied::Unauthenticated(
                "this needs a token: send `Authorization: Bearer TOKEN`".to_owned(),
            ));
        };
        let Some(secret) = header.strip_prefix("Bearer ").map(str::trim) else {
            return Err(Denied::Unauthenticated(
                "the Authorization header must be `Bearer TOKEN`".to_owned(),
            ));
        };
        self.holder(secret, action).map(|(name, _)| name)
    }

    /// Checks a token's secret for `action`; returns its holder's name and
    /// role.
    pub fn holder(&self, secret: &str, action: Action) -> Result<(&str, Role), Denied> {
        let Some((name, role)) = self.by_hash.get(&token_hash(secret)) else {
            return Err(Denied::Unauthenticated("the token is not known".to_owned()));
        };
        if role.may(action) {
            Ok((name, *role))
        } else {
            Err(Denied::Forbidden(format!(
                "the token `{name}` has the role {}; this needs {}",
                role.as_str(),
                action.roles()
            )))
        }
    }
}

/// SHA-256 of a token's secret, hex: what the service keeps.
pub fn token_hash(secret: &str) -> String {
    content_hash(secret.as_bytes())
}

/// 32 random bytes from the operating system, as 64 hex digits: a token's
/// secret, or a session's id.
pub fn new_secret() -> Result<String, ServiceError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ServiceError::Setup(format!("no randomness for a token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
