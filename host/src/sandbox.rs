//! The sandbox policies run in: a wasmtime engine, a linker that provides
//! exactly the contract's `geo` interface, and a fresh store for every call
//! with a fuel budget and a memory cap.
//!
//! - **The linker is the capability manifest.** It holds `escort:policy/geo`
//!   and nothing else: no WASI, so no clock, randomness, files, network or
//!   environment. A component that imports anything more fails to load.
//! - **A fresh instance per call.** A policy's only memory between calls is
//!   the state it returns, which the host keeps. That makes a policy a pure
//!   function in fact, not just by contract (a global in its memory cannot leak
//!   from one transit into another), and makes a trap harmless: the store it
//!   poisoned is dropped, and the next call starts clean.
//! - **Three kinds of failure, kept apart** (as wasmtime's `bindgen!` does): a
//!   finding is a value; a policy's own error is `result::err`; a trap (fuel,
//!   memory, stack, panic) is the outer `wasmtime::Error`. All three reach the
//!   caller as a [`PolicyFailure`] and become a `policy.error` finding.

use std::sync::Arc;

use wasmtime::component::{Component, Linker, Resource, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};

use crate::cache::ComponentCache;
use crate::geodesy::{RouteIndex, distance_m};

/// The generated bindings of the contract, host side.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.0",
        world: "escort-policy",
        imports: { default: trappable },
        with: { "escort:policy/geo.route": super::RouteRef },
    });
}

use bindings::escort::policy::geo;
pub(crate) use bindings::escort::policy::types as wit;
pub(crate) use bindings::{EscortPolicy, EscortPolicyPre};

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// A route handed to a policy for the length of one call.
pub struct RouteRef(Arc<RouteIndex>);

/// Resource limits for one policy call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel for one call; roughly one unit per WebAssembly instruction.
    pub fuel: u64,
    /// Most linear memory a policy instance may grow to, bytes.
    pub memory_bytes: usize,
    /// Most findings one call may return.
    pub max_findings: usize,
    /// Largest state one call may return, bytes.
    pub max_state_bytes: usize,
}

impl Default for Limits {
    /// A budget a real policy never reaches on a 10,000-fix batch (the default
    /// policies use well under 1 % of it), yet one that stops a runaway loop
    /// in about a second.
    fn default() -> Self {
        Limits {
            fuel: 2_000_000_000,
            memory_bytes: 64 << 20,
            max_findings: 10_000,
            max_state_bytes: 1 << 20,
        }
    }
}

/// Why a policy call produced nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyFailure {
    /// The call used up its fuel (an endless or too long computation).
    #[error("ran out of fuel (budget {budget})")]
    OutOfFuel {
        /// The budget it had.
        budget: u64,
    },
    /// The policy trapped: a panic, a stack overflow, memory it could not get.
    #[error("trapped: {0}")]
    Trap(String),
    /// The policy answered `err`.
    #[error("returned an error: {0}")]
    Error(String),
    /// The policy answered something the contract forbids.
    #[error("returned an ill-formed result: {0}")]
    IllFormed(String),
}

/// Per-call store data: the resources lent to the guest and its limits.
pub(crate) struct CallState {
    table: ResourceTable,
    limits: StoreLimits,
}

/// A wasmtime engine and linker configured for policies.
///
/// One sandbox serves any number of policies and threads; cloning is cheap.
#[derive(Clone)]
pub struct Sandbox {
    engine: Engine,
    linker: Arc<Linker<CallState>>,
    cache: ComponentCache,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").finish_non_exhaustive()
    }
}

impl Sandbox {
    /// A sandbox that keeps compiled policies in the user's cache folder
    /// (see [`ComponentCache::user_default`]).
    pub fn new() -> Result<Sandbox, wasmtime::Error> {
        Sandbox::with_cache(ComponentCache::user_default())
    }

    /// A sandbox with fuel metering on, the `geo` interface linked, and
    /// compiled policies kept in `cache`.
    pub fn with_cache(cache: ComponentCache) -> Result<Sandbox, wasmtime::Error> {
        let mut config = Config::new();
        config.wasm_component_model(true).consume_fuel(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        geo::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(&mut linker, |state| state)?;
        Ok(Sandbox {
            engine,
            linker: Arc::new(linker),
            cache,
        })
    }

    /// Where compiled policies are cached.
    pub fn cache(&self) -> &ComponentCache {
        &self.cache
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Links a compiled component against the contract. Fails when the
    /// component imports anything beyond `geo` or does not export `policy`
    /// of this contract version.
    pub(crate) fn prepare(&self, component: &Component) -> Result<EscortPolicyPre<CallState>, wasmtime::Error> {
        EscortPolicyPre::new(self.linker.instantiate_pre(component)?)
    }

    /// Runs `call` on a fresh instance of `policy` under `limits`, lending it
    /// `route` for the duration of the call. Returns the call's result and the
    /// fuel it used.
    pub(crate) fn call<R>(
        &self,
        policy: &EscortPolicyPre<CallState>,
        limits: &Limits,
        route: Option<&Arc<RouteIndex>>,
        call: impl FnOnce(&mut Store<CallState>, &EscortPolicy, Option<Resource<RouteRef>>) -> wasmtime::Result<R>,
    ) -> Result<(R, u64), PolicyFailure> {
        let mut store = Store::new(
            &self.engine,
            CallState {
                table: ResourceTable::new(),
                limits: StoreLimitsBuilder::new()
                    .memory_size(limits.memory_bytes)
                    .trap_on_grow_failure(true)
                    .build(),
            },
        );
        store.limiter(|state| &mut state.limits);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| PolicyFailure::Trap(e.to_string()))?;
        let outcome = (|| {
            let instance = policy.instantiate(&mut store)?;
            let route = match route {
                Some(route) => Some(store.data_mut().table.push(RouteRef(Arc::clone(route)))?),
                None => None,
            };
            call(&mut store, &instance, route)
        })();
        let used = limits.fuel - store.get_fuel().unwrap_or(0);
        match outcome {
            Ok(value) => Ok((value, used)),
            Err(error) => Err(match error.downcast_ref::<Trap>() {
                Some(Trap::OutOfFuel) => PolicyFailure::OutOfFuel { budget: limits.fuel },
                Some(trap) => PolicyFailure::Trap(trap.to_string()),
                None => PolicyFailure::Trap(format!("{error:#}")),
            }),
        }
    }
}

impl CallState {
    fn route(&self, handle: &Resource<RouteRef>) -> wasmtime::Result<&RouteIndex> {
        Ok(&self.table.get(handle)?.0)
    }
}

/// Positions come as two columns; different lengths are the guest's bug, and
/// trap it rather than guess.
fn check_columns(lat: &[f64], lon: &[f64]) -> wasmtime::Result<()> {
    if lat.len() == lon.len() {
        Ok(())
    } else {
        Err(wasmtime::format_err!(
            "lat has {} values but lon has {}",
            lat.len(),
            lon.len()
        ))
    }
}

impl geo::HostRoute for CallState {
    fn length_m(&mut self, route: Resource<RouteRef>) -> wasmtime::Result<f64> {
        Ok(self.route(&route)?.length_m())
    }

    fn offsets_m(&mut self, route: Resource<RouteRef>, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Vec<f64>> {
        check_columns(&lat, &lon)?;
        let route = self.route(&route)?;
        Ok(lat
            .iter()
            .zip(&lon)
            .map(|(&lat, &lon)| route.locate(lat, lon).offset_m)
            .collect())
    }

    fn progress_m(&mut self, route: Resource<RouteRef>, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Vec<f64>> {
        check_columns(&lat, &lon)?;
        let route = self.route(&route)?;
        Ok(lat
            .iter()
            .zip(&lon)
            .map(|(&lat, &lon)| route.locate(lat, lon).progress_m)
            .collect())
    }

    fn drop(&mut self, route: Resource<RouteRef>) -> wasmtime::Result<()> {
        self.table.delete(route)?;
        Ok(())
    }
}

impl geo::Host for CallState {
    fn distances_to_m(&mut self, lat: Vec<f64>, lon: Vec<f64>, to: geo::Position) -> wasmtime::Result<Vec<f64>> {
        check_columns(&lat, &lon)?;
        Ok(lat
            .iter()
            .zip(&lon)
            .map(|(&lat, &lon)| distance_m(lat, lon, to.lat, to.lon))
            .collect())
    }

    fn legs_m(&mut self, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Vec<f64>> {
        check_columns(&lat, &lon)?;
        Ok(lat
            .windows(2)
            .zip(lon.windows(2))
            .map(|(lat, lon)| distance_m(lat[0], lon[0], lat[1], lon[1]))
            .collect())
    }
}

impl wit::Host for CallState {}
