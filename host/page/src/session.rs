//! Sign-ins on the page: a random session id in an HttpOnly cookie, so
//! that the page never holds the token it was opened with.
//!
//! Sessions live in memory only: a restarted service asks every officer
//! for the token again. Their number is bounded ([`MAX_SESSIONS`]); expired
//! ones are dropped as new ones come.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cookie::{Cookie, SameSite};
use parking_lot::Mutex;

use escort_service::{Role, ServiceError, new_secret};

/// The cookie's name.
pub const COOKIE: &str = "escort_session";

/// Most sessions alive at once. Past it a sign-in is refused until one
/// expires or signs out: a flood of sign-ins with a valid token costs at
/// most this many entries.
pub const MAX_SESSIONS: usize = 10_000;

/// Who is signed in, until when.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token holder's name.
    pub holder: String,
    /// The token's role.
    pub role: Role,
    /// When the session ends, by the service's clock.
    pub expires_at: DateTime<Utc>,
    expires: Instant,
}

/// The sessions alive.
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    lifetime: Duration,
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// [`MAX_SESSIONS`] are alive.
    #[error("{MAX_SESSIONS} sessions are open, the most the service keeps; try again when one has ended")]
    Full,
    /// No randomness for an id.
    #[error(transparent)]
    Random(#[from] ServiceError),
}

impl Sessions {
    /// No sessions yet; each one opened lasts `lifetime`.
    pub fn new(lifetime: Duration) -> Sessions {
        Sessions {
            by_id: Mutex::new(HashMap::new()),
            lifetime,
        }
    }

    /// Opens a session for `holder`; returns its cookie.
    pub fn open(&self, holder: &str, role: Role) -> Result<Cookie<'static>, SessionError> {
        let id = new_secret()?;
        let now = Instant::now();
        let session = Session {
            holder: holder.to_owned(),
            role,
            expires_at: Utc::now() + self.lifetime,
            expires: now + self.lifetime,
        };
        let mut sessions = self.by_id.lock();
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, session| session.expires > now);
        }
        if sessions.len() >= MAX_SESSIONS {
            return Err(SessionError::Full);
        }
        sessions.insert(id.clone(), session);
        Ok(Cookie::build((COOKIE, id))
            .http_only(true)
            .same_site(SameSite::Strict)
            .path("/")
            .max_age(cookie::time::Duration::seconds(self.lifetime.as_secs() as i64))
            .build())
    }

    /// The session a request's `Cookie` header names, if it is alive.
    pub fn find(&self, cookie_header: Option<&str>) -> Option<Session> {
        let id = session_id(cookie_header?)?;
        let mut sessions = self.by_id.lock();
        let session = sessions.get(&id)?;
        if session.expires <= Instant::now() {
            sessions.remove(&id);
            return None;
        }
        Some(session.clone())
    }

    /// Ends the session a request's `Cookie` header names; returns the
    /// cookie that makes the browser forget it.
    pub fn end(&self, cookie_header: Option<&str>) -> Cookie<'static> {
        if let Some(id) = cookie_header.and_then(session_id) {
            self.by_id.lock().remove(&id);
        }
        let mut gone = Cookie::build((COOKIE, ""))
            .http_only(true)
            .same_site(SameSite::Strict)
            .path("/")
            .build();
        gone.make_removal();
        gone
    }
}

fn session_id(header: &str) -> Option<String> {
    Cookie::split_parse(header)
        .flatten()
        .find(|cookie| cookie.name() == COOKIE)
        .map(|cookie| cookie.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_ends() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let cookie = sessions.open("officer-1", Role::Officer).unwrap();
        let header = format!("other=1; {}={}", COOKIE, cookie.value());
        let session = sessions.find(Some(&header)).expect("the session is alive");
        assert_eq!((session.holder.as_str(), session.role), ("officer-1", Role::Officer));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Strict));
        assert!(sessions.find(Some("escort_session=not-a-session")).is_none());
        let gone = sessions.end(Some(&header));
        assert_eq!(gone.value(), "");
        assert!(sessions.find(Some(&header)).is_none());
    }

    #[test]
    fn an_expired_session_is_not_found() {
        let sessions = Sessions::new(Duration::from_millis(1));
        let cookie = sessions.open("officer-1", Role::Officer).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(sessions.find(Some(&format!("{COOKIE}={}", cookie.value()))).is_none());
    }
}
