//! The officers' page (issue 15) as an officer's browser sees it: a real
//! headless Chromium, driven through chromedriver (WebDriver) with
//! `fantoccini`, against a real `escort serve` started by the test kit.
//!
//! - [`Browser`] starts chromedriver on a free loopback port and one
//!   Chromium session in a fresh profile that can resolve no name but
//!   loopback, so a request outside the service fails instead of leaving
//!   the machine; both end when it is dropped.
//! - [`serve`] starts `escort serve`, built by cargo for this run
//!   ([`escort_binary`]), and [`load`] fills it through the public HTTP API
//!   as a gateway would: the shipped scenarios, a detour with a cut seal,
//!   a long transit, many transits.
//!
//! The page's contract (routes, JSON, DOM ids) is
//! `briefs/page-contract.md`; the tests (`tests/page.rs`) and the drawing
//! benchmark (`examples/page_draw.rs`) hold to it and to nothing else of
//! the front end.

#![deny(missing_docs)]

mod binary;
mod browser;
pub mod load;

pub use binary::{escort_binary, serve};
pub use browser::{Browser, LogEntry};
