//! The sandbox policies run in: a wasmtime engine, a linker that provides
//! exactly the contract's `geo` interface, and instances that each serve one
//! call at a time under a fuel budget and a memory cap.
//!
//! - **The linker is the capability manifest.** It holds `escort:policy/geo`
//!   and nothing else: no WASI, so no clock, randomness, files, network or
//!   environment. A component that imports anything more fails to load.
//! - **Instances are reused, not shared.** A policy's only memory between
//!   calls is meant to be the state it returns, which the host keeps; the
//!   contract forbids anything else. Creating an instance for every call
//!   would enforce that, but costs tens of microseconds of `mmap`,
//!   `mprotect` and page faults, more than a 100-fix batch of any default
//!   policy (measured in `docs/performance.md`). So an instance that answered
//!   goes back to its policy's idle list, one call at a time, and serves a
//!   later call. One that trapped is dropped with its store: a trap stays
//!   harmless, and a reused instance that traps gets its call run again on a
//!   fresh one, so leftovers of earlier calls never fail a call. A policy
//!   that keeps something in a global breaks the contract; the golden tests
//!   (`crate::golden`) run every scenario twice to catch it.
//! - **Fresh instances come from a pool.** wasmtime's pooling allocator
//!   reserves the address space of its instances once and resets a used slot
//!   to the component's initial image instead of mapping a new one.
//!   [`POOL_IN_FLIGHT`] calls run at once; more wait for one to finish.
//! - **Three kinds of failure, kept apart** (as wasmtime's `bindgen!` does): a
//!   finding is a value; a policy's own error is `result::err`; a trap (fuel,
//!   memory, stack, panic) is the outer `wasmtime::Error`. All three reach the
//!   caller as a [`PolicyFailure`] and become a `policy.error` finding.

use std::sync::{Arc, Condvar, Mutex};

use wasmtime::component::{Component, Linker, Resource, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, Trap,
};

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

/// How many policy calls of one sandbox run at once; more wait for a slot.
pub const POOL_IN_FLIGHT: usize = 256;
/// Idle instances kept per policy: enough for the calls that overlap on
/// a few cores, few enough that a 30 MiB Python instance is not kept in
/// dozens.
const MAX_IDLE_INSTANCES: usize = 4;
/// Policy instances the pool holds: every call in flight, and the idle
/// instances of 64 policies. Each reserves address space for its memories
/// (4 GiB each, not memory: 4 TiB in all, of the 128 TiB a process has).
const POOL_INSTANCES: u32 = 512;
/// Core instances and tables per pooled policy instance: a Rust policy has
/// one or two, a Python or JavaScript one a handful.
const POOL_PARTS_PER_INSTANCE: u32 = 8;
/// Linear memories per pooled policy instance, near what policies have.
const POOL_MEMORIES_PER_INSTANCE: u32 = 2;
/// The table size the pool reserves per table: above the largest table
/// seen, CPython's (componentize-py).
const POOL_TABLE_ELEMENTS: usize = 100_000;

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

impl Limits {
    fn store_limits(&self) -> StoreLimits {
        StoreLimitsBuilder::new()
            .memory_size(self.memory_bytes)
            .trap_on_grow_failure(true)
            .build()
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
    slots: Arc<Slots>,
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
        let parts = POOL_INSTANCES * POOL_PARTS_PER_INSTANCE;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(parts)
            .total_memories(POOL_INSTANCES * POOL_MEMORIES_PER_INSTANCE)
            .total_tables(parts)
            .table_elements(POOL_TABLE_ELEMENTS);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        geo::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(&mut linker, |state| state)?;
        Ok(Sandbox {
            engine,
            linker: Arc::new(linker),
            cache,
            slots: Arc::new(Slots::new(POOL_IN_FLIGHT)),
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
    pub(crate) fn prepare(&self, component: &Component) -> Result<Instances, wasmtime::Error> {
        Ok(Instances {
            pre: EscortPolicyPre::new(self.linker.instantiate_pre(component)?)?,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs `call` on an instance of `policy` under `limits`, lending it
    /// `route` for the duration of the call. Returns the call's result and the
    /// fuel it used.
    ///
    /// The instance is an idle one of an earlier call when there is one. When
    /// such a reused instance traps (for anything but fuel, which a fresh
    /// instance would use up as well), the call runs once more on a fresh
    /// instance, so that nothing an earlier call left behind can fail it.
    pub(crate) fn call<R>(
        &self,
        policy: &Instances,
        limits: &Limits,
        route: Option<&Arc<RouteIndex>>,
        mut call: impl FnMut(&mut Store<CallState>, &EscortPolicy, Option<Resource<RouteRef>>) -> wasmtime::Result<R>,
    ) -> Result<(R, u64), PolicyFailure> {
        let _slot = self.slots.take();
        let reused = policy.take_idle();
        let was_reused = reused.is_some();
        let instance = match reused {
            Some(instance) => instance,
            None => self.instantiate(policy, limits)?,
        };
        match self.run(instance, policy, limits, route, &mut call) {
            Err(PolicyFailure::Trap(_)) if was_reused => {
                let fresh = self.instantiate(policy, limits)?;
                self.run(fresh, policy, limits, route, &mut call)
            }
            outcome => outcome,
        }
    }

    /// A fresh instance; its start-up runs under the limits of the call it
    /// is made for.
    fn instantiate(&self, policy: &Instances, limits: &Limits) -> Result<Instance, PolicyFailure> {
        let mut store = Store::new(
            &self.engine,
            CallState {
                table: ResourceTable::new(),
                limits: limits.store_limits(),
            },
        );
        store.limiter(|state| &mut state.limits);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| PolicyFailure::Trap(e.to_string()))?;
        let bindings = policy
            .pre
            .instantiate(&mut store)
            .map_err(|error| PolicyFailure::Trap(format!("{error:#}")))?;
        Ok(Instance { store, bindings })
    }

    /// One call on `instance`, which goes back to the idle ones when the call
    /// did not trap.
    fn run<R>(
        &self,
        mut instance: Instance,
        policy: &Instances,
        limits: &Limits,
        route: Option<&Arc<RouteIndex>>,
        call: &mut impl FnMut(&mut Store<CallState>, &EscortPolicy, Option<Resource<RouteRef>>) -> wasmtime::Result<R>,
    ) -> Result<(R, u64), PolicyFailure> {
        let store = &mut instance.store;
        store.data_mut().limits = limits.store_limits();
        store
            .set_fuel(limits.fuel)
            .map_err(|e| PolicyFailure::Trap(e.to_string()))?;
        let outcome = (|| {
            let lent = match route {
                Some(route) => Some(store.data_mut().table.push(RouteRef(Arc::clone(route)))?),
                None => None,
            };
            let rep = lent.as_ref().map(Resource::rep);
            let answer = call(store, &instance.bindings, lent);
            // The guest only borrowed the route; take it back so that the
            // table of a reused instance does not grow.
            if let Some(rep) = rep {
                store.data_mut().table.delete(Resource::<RouteRef>::new_own(rep))?;
            }
            answer
        })();
        let used = limits.fuel - store.get_fuel().unwrap_or(0);
        match outcome {
            Ok(value) => {
                policy.give_back(instance);
                Ok((value, used))
            }
            Err(error) => Err(match error.downcast_ref::<Trap>() {
                Some(Trap::OutOfFuel) => PolicyFailure::OutOfFuel { budget: limits.fuel },
                Some(trap) => PolicyFailure::Trap(trap.to_string()),
                None => PolicyFailure::Trap(format!("{error:#}")),
            }),
        }
    }
}

/// A policy component linked against the contract, and its instances that
/// wait for the next call.
pub(crate) struct Instances {
    pre: EscortPolicyPre<CallState>,
    idle: Mutex<Vec<Instance>>,
}

/// An instance of a policy in its own store.
struct Instance {
    store: Store<CallState>,
    bindings: EscortPolicy,
}

impl Instances {
    fn take_idle(&self) -> Option<Instance> {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop()
    }

    fn give_back(&self, instance: Instance) {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < MAX_IDLE_INSTANCES {
            idle.push(instance);
        }
    }
}

/// A count of free call slots: a call takes one for as long as it runs, and
/// waits when there is none.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// One slot, given back when dropped.
struct Slot<'a>(&'a Slots);

impl Slots {
    fn new(count: usize) -> Slots {
        Slots {
            free: Mutex::new(count),
            freed: Condvar::new(),
        }
    }

    fn take(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) += 1;
        self.0.freed.notify_one();
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
