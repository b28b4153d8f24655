//! The sandbox policies run in: a wasmtime engine, a linker that provides
//! exactly the contract's `geo` interface, and instances that each serve one
//! call at a time under its [`Limits`].
//!
//! - **The linker is the capability manifest.** It holds `escort:policy/geo`
//!   (linked by [`crate::contract`], once per contract version) and nothing
//!   else: no WASI, so no clock, randomness, files, network or
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
//!   fresh one (with what the first attempt left of the call's limits), so
//!   leftovers of earlier calls never fail a call. A policy
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
//! - **Every call is bounded, in work and in time.** Fuel counts the
//!   instructions a policy runs; the geodesy budget counts the positions it
//!   asks the host about, which fuel cannot see; both are deterministic, so a
//!   replay stops where the original stopped. A wall-clock deadline (wasmtime's
//!   epochs, advanced by one thread per sandbox) stops whatever the two miss.
//!   A panic of the host while it serves a call is caught and fails the call,
//!   never the process. Limits are in [`Limits`]; what they add up to is in
//!   `docs/service.md`, "Limits".
//! - **The same component gives the same bits on every machine.** NaNs are
//!   canonicalised and relaxed SIMD runs in its deterministic profile; the
//!   WebAssembly proposals a component may use are pinned in one place
//!   ([`Sandbox::with_cache`]) and named in the WIT contract.
//! - **Loading is bounded too.** A component larger than
//!   [`LoadLimits::max_component_bytes`] is refused before it is compiled,
//!   compilation runs on its own thread under a timeout, one at a time, and
//!   only a component that loaded (linked and described itself) is cached.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, Resource, ResourceTable};
use wasmtime::{
    Config, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder, Trap, WasmFeatures,
};

use crate::cache::{ComponentCache, content_hash};
use crate::contract::{self, Bindings, BindingsPre, LentTransit, MAX_EVIDENCE_TEXT_BYTES, v0_2};

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
/// How often the engine's epoch advances: the resolution of a call's
/// deadline. Each tick is one atomic increment, so a fine tick costs nothing
/// that shows.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The WebAssembly a policy may use: the 2.0 core (SIMD, bulk memory,
/// reference types, multiple values, sign extension, saturating conversions)
/// with tail calls, extended constants and relaxed SIMD, and the component
/// model. Everything else (threads, garbage collection and its types,
/// exceptions, typed function references, stack switching, 64-bit or
/// multiple memories, custom page sizes, wide arithmetic, the component
/// model's async) is refused when the component is compiled: policies need
/// none of it, and threads would make them nondeterministic. The contract's
/// WIT names the same list.
const POLICY_FEATURES: WasmFeatures = WasmFeatures::WASM2
    .difference(WasmFeatures::GC_TYPES)
    .union(WasmFeatures::TAIL_CALL)
    .union(WasmFeatures::EXTENDED_CONST)
    .union(WasmFeatures::RELAXED_SIMD)
    .union(WasmFeatures::COMPONENT_MODEL);

/// Resource limits for one policy call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel for one call; roughly one unit per WebAssembly instruction.
    pub fuel: u64,
    /// Most linear memory a policy instance may grow to, bytes.
    pub memory_bytes: usize,
    /// Most findings one call may return, in each of its lists.
    pub max_findings: usize,
    /// Largest state one call may return, bytes.
    pub max_state_bytes: usize,
    /// Most positions one call may ask the host's geodesy about, all its
    /// `geo` calls together. Fuel does not count the host's work, so this
    /// does; like fuel it is a count, so a replay stops where the original
    /// stopped.
    pub geodesy_positions: u64,
    /// Longest one call may take by the clock, a retry on a fresh instance
    /// included: the last resort for whatever fuel and the geodesy budget
    /// miss. Unlike them it depends on the machine, so it sits well above
    /// what they allow.
    pub deadline: Duration,
}

impl Default for Limits {
    /// A budget a real policy never reaches on a 10,000-fix batch (the default
    /// policies use well under 1 % of it), yet one that stops a runaway loop
    /// in about a second and a flood of geodesy questions in about two.
    fn default() -> Self {
        Limits {
            fuel: 2_000_000_000,
            memory_bytes: 64 << 20,
            max_findings: 10_000,
            max_state_bytes: 1 << 20,
            geodesy_positions: 2_000_000,
            deadline: Duration::from_secs(10),
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

/// Bounds on loading a component, which runs before any per-call limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadLimits {
    /// Largest component accepted, bytes; a larger one is refused before it
    /// is compiled. The JavaScript speed policy is about 19 MB.
    pub max_component_bytes: usize,
    /// Longest a compilation may take. Compiling cannot be interrupted, so
    /// one that runs over is abandoned: it finishes on its own thread
    /// (bounded by the size limit) and its result is thrown away.
    pub compile_timeout: Duration,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            max_component_bytes: 64 << 20,
            compile_timeout: Duration::from_secs(60),
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
    /// The call asked the host's geodesy about more positions than its
    /// budget allows.
    #[error("asked the host's geodesy about more than its budget of {budget} positions")]
    GeodesyBudget {
        /// The budget it had.
        budget: u64,
    },
    /// The call ran past its wall-clock deadline.
    #[error("ran past its deadline of {} ms", deadline.as_millis())]
    TimedOut {
        /// The deadline it had.
        deadline: Duration,
    },
    /// The policy trapped: a panic, a stack overflow, memory it could not
    /// get, a malformed question to the host.
    #[error("trapped: {0}")]
    Trap(String),
    /// The policy answered `err`.
    #[error("returned an error: {0}")]
    Error(String),
    /// The policy answered something the contract forbids.
    #[error("returned an ill-formed result: {0}")]
    IllFormed(String),
    /// The host itself failed while it served the call: a defect of Escort,
    /// caught so that it costs one call and not the process.
    #[error("could not be served, the host failed: {0}")]
    HostPanic(String),
}

impl PolicyFailure {
    /// The policy's own `err`, kept to [`MAX_EVIDENCE_TEXT_BYTES`]
    /// (cut on a character, marked `…`): its words reach every report of the
    /// transit, so they are held to the bound of a policy's evidence.
    pub(crate) fn error(mut text: String) -> PolicyFailure {
        if text.len() > MAX_EVIDENCE_TEXT_BYTES {
            let mut end = MAX_EVIDENCE_TEXT_BYTES - '…'.len_utf8();
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        PolicyFailure::Error(text)
    }

    /// The failure's kind in one word, as `policy.error` findings carry it
    /// in their `failure` evidence.
    pub fn kind(&self) -> &'static str {
        match self {
            PolicyFailure::OutOfFuel { .. } => "out_of_fuel",
            PolicyFailure::GeodesyBudget { .. } => "geodesy_budget",
            PolicyFailure::TimedOut { .. } => "timed_out",
            PolicyFailure::Trap(_) => "trap",
            PolicyFailure::Error(_) => "error",
            PolicyFailure::IllFormed(_) => "ill_formed",
            PolicyFailure::HostPanic(_) => "host_panic",
        }
    }
}

/// Why a component could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CompileFailure {
    #[error("the component has {bytes} bytes, over the limit of {limit}")]
    TooLarge { bytes: usize, limit: usize },
    #[error("compiling it took longer than {} s", timeout.as_secs_f64())]
    TimedOut { timeout: Duration },
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
}

/// A compiled component, the content hash of its source, and whether it
/// still has to be cached.
pub(crate) struct Compiled {
    pub(crate) component: Component,
    pub(crate) hash: String,
    fresh: bool,
}

/// Per-call store data: the resources lent to the guest, its memory limits
/// and what is left of its geodesy budget.
pub(crate) struct CallState {
    table: ResourceTable,
    limits: StoreLimits,
    geodesy_budget: u64,
    geodesy_left: u64,
    /// The transit the call in progress is about, for contract 0.2.
    transit: Option<Arc<LentTransit>>,
    /// The batch the `observe` in progress judges, for contract 0.2.
    fixes: Option<Arc<v0_2::Fixes>>,
    /// The parameters a 0.2 instance was configured with; they outlive the
    /// call, as the instance does.
    configured: Option<Arc<[v0_2::ParamValue]>>,
    /// Bytes the `transit` and `batch` imports answered the call in
    /// progress, at most [`MAX_ANSWER_BYTES`].
    answered_bytes: usize,
}

/// The most bytes contract 0.2's `transit` and `batch` imports answer one
/// call, all questions together: 64 MiB, the default memory cap. Each
/// question counts as at least [`QUESTION_BYTES`], so a call asks at most
/// 65,536. A component allocates each answer, which costs it little fuel
/// however long the answer, so without this bound a policy that asks again
/// and again would spend the host's time until the deadline, and stop at a
/// point that depends on the machine; with it, the call fails at the same
/// question on every replay.
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// The least a question of the `transit` and `batch` imports is charged,
/// whatever its answer: the cost of the call itself.
pub const QUESTION_BYTES: usize = 1 << 10;

/// What a host function answers when the geodesy budget is spent, told apart
/// from other traps by its type.
#[derive(Debug, thiserror::Error)]
#[error("the call's geodesy budget of {budget} positions is spent")]
struct GeodesySpent {
    budget: u64,
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
    load_limits: LoadLimits,
    /// Held by the one compilation that runs, so that abandoned ones cannot
    /// pile up.
    compiling: Arc<Mutex<()>>,
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

    /// A sandbox with fuel metering and deadlines on, the `geo` interface
    /// linked, compiled policies kept in `cache`, and the default
    /// [`LoadLimits`].
    ///
    /// The WebAssembly a component may use is pinned here
    /// ([`POLICY_FEATURES`]), with canonical NaNs and relaxed SIMD in its
    /// deterministic profile, so that a component gives the same bits on
    /// every machine.
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
            .epoch_interruption(true)
            // The same bits on every CPU: a NaN's sign and payload are not
            // left to the hardware, and relaxed SIMD gives the answers of
            // its deterministic profile everywhere.
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .wasm_features(WasmFeatures::all().difference(POLICY_FEATURES), false)
            .wasm_features(POLICY_FEATURES, true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        advance_epochs(engine.weak());
        let mut linker = Linker::new(&engine);
        contract::link(&mut linker)?;
        Ok(Sandbox {
            engine,
            linker: Arc::new(linker),
            cache,
            slots: Arc::new(Slots::new(POOL_IN_FLIGHT)),
            load_limits: LoadLimits::default(),
            compiling: Arc::new(Mutex::new(())),
        })
    }

    /// This sandbox with other bounds on loading components.
    pub fn with_load_limits(mut self, limits: LoadLimits) -> Sandbox {
        self.load_limits = limits;
        self
    }

    /// Where compiled policies are cached.
    pub fn cache(&self) -> &ComponentCache {
        &self.cache
    }

    /// The bounds on loading components.
    pub fn load_limits(&self) -> &LoadLimits {
        &self.load_limits
    }

    /// The compiled form of `bytes`: from the cache, or compiled now within
    /// the [`LoadLimits`]. It is cached by [`Sandbox::keep`] once it has
    /// loaded, so that a component that is refused leaves nothing behind.
    pub(crate) fn compile(&self, bytes: &[u8]) -> Result<Compiled, CompileFailure> {
        let limit = self.load_limits.max_component_bytes;
        if bytes.len() > limit {
            return Err(CompileFailure::TooLarge {
                bytes: bytes.len(),
                limit,
            });
        }
        let hash = &content_hash(bytes);
        if let Some(component) = self.cache.get(&self.engine, hash) {
            return Ok(Compiled {
                component,
                hash: hash.to_owned(),
                fresh: false,
            });
        }
        let (sender, receiver) = mpsc::channel();
        let (engine, bytes, compiling) = (self.engine.clone(), bytes.to_vec(), Arc::clone(&self.compiling));
        let spawned = thread::Builder::new().name("escort-compile".to_owned()).spawn(move || {
            let _one_at_a_time = compiling.lock().unwrap_or_else(PoisonError::into_inner);
            // The receiver is gone when the compilation was abandoned.
            let _ = sender.send(Component::new(&engine, &bytes));
        });
        if let Err(e) = spawned {
            return Err(CompileFailure::Invalid(format!("cannot start compiling: {e}")));
        }
        let timeout = self.load_limits.compile_timeout;
        match receiver.recv_timeout(timeout) {
            Ok(Ok(component)) => Ok(Compiled {
                component,
                hash: hash.to_owned(),
                fresh: true,
            }),
            Ok(Err(e)) => Err(CompileFailure::Invalid(format!("{e:#}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(CompileFailure::TimedOut { timeout }),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(CompileFailure::Invalid(
                "the compiler failed without a reason".to_owned(),
            )),
        }
    }

    /// Caches a component that loaded, if it was compiled just now.
    pub(crate) fn keep(&self, compiled: &Compiled) {
        if compiled.fresh {
            self.cache.put(&self.engine, &compiled.hash, &compiled.component);
        }
    }

    /// Links a compiled component against the contract version it exports.
    /// Fails when the component imports anything beyond what that version
    /// lends (`geo`, and `transit` and `batch` from 0.2) or exports no `policy` of a
    /// version the host implements.
    pub(crate) fn prepare(&self, component: &Component) -> Result<Instances, wasmtime::Error> {
        Ok(Instances {
            pre: BindingsPre::new(self.linker.instantiate_pre(component)?)?,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs `call` on an instance of `policy` under `limits`. Returns the
    /// call's result and the fuel it used. Whatever `call` lends the guest
    /// ([`CallState::lend`]) is taken back when it returns.
    ///
    /// The instance is an idle one of an earlier call when there is one. When
    /// such a reused instance traps, the call runs once more on a fresh
    /// instance, so that nothing an earlier call left behind can fail it. The
    /// retry gets only the fuel, geodesy budget and time the first attempt
    /// left, so a trap never costs more than one call's limits; fuel,
    /// geodesy, deadline and host failures are not retried at all, since a
    /// fresh instance would meet them again.
    pub(crate) fn call<R>(
        &self,
        policy: &Instances,
        limits: &Limits,
        mut call: impl FnMut(&mut Store<CallState>, &Bindings) -> wasmtime::Result<R>,
    ) -> Result<(R, u64), PolicyFailure> {
        let _slot = self.slots.take();
        let mut budget = Budget {
            fuel: limits.fuel,
            geodesy_positions: limits.geodesy_positions,
            deadline: Instant::now() + limits.deadline,
        };
        let reused = policy.take_idle();
        let was_reused = reused.is_some();
        let instance = match reused {
            Some(instance) => instance,
            None => self.instantiate(policy, limits, &budget)?,
        };
        let first = self.run(instance, policy, limits, &mut budget, &mut call);
        match first {
            Err(PolicyFailure::Trap(_)) if was_reused => {
                let fresh = self.instantiate(policy, limits, &budget)?;
                let retry = self.run(fresh, policy, limits, &mut budget, &mut call);
                retry.map(|value| (value, limits.fuel - budget.fuel))
            }
            outcome => outcome.map(|value| (value, limits.fuel - budget.fuel)),
        }
    }

    /// A fresh instance; its start-up runs under what is left of the call's
    /// budget.
    fn instantiate(&self, policy: &Instances, limits: &Limits, budget: &Budget) -> Result<Instance, PolicyFailure> {
        let mut store = Store::new(
            &self.engine,
            CallState {
                geodesy_left: budget.geodesy_positions,
                ..CallState::new(limits)
            },
        );
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(budget.epoch_ticks_left());
        store
            .set_fuel(budget.fuel)
            .map_err(|e| PolicyFailure::Trap(e.to_string()))?;
        let bindings = policy
            .pre
            .instantiate(&mut store)
            .map_err(|error| failure(&error, limits))?;
        Ok(Instance { store, bindings })
    }

    /// One call on `instance` with what is left of `budget`, which it
    /// spends. The instance goes back to the idle ones when the call did not
    /// fail.
    fn run<R>(
        &self,
        mut instance: Instance,
        policy: &Instances,
        limits: &Limits,
        budget: &mut Budget,
        call: &mut impl FnMut(&mut Store<CallState>, &Bindings) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyFailure> {
        let store = &mut instance.store;
        let state = store.data_mut();
        state.limits = limits.store_limits();
        state.geodesy_budget = limits.geodesy_positions;
        state.geodesy_left = budget.geodesy_positions;
        store.set_epoch_deadline(budget.epoch_ticks_left());
        store
            .set_fuel(budget.fuel)
            .map_err(|e| PolicyFailure::Trap(e.to_string()))?;
        // wasmtime carries a panic of a host function across the guest's
        // frames and resumes it here; it is the host's defect, and costs
        // this call only.
        let outcome = catch_unwind(AssertUnwindSafe(|| call(store, &instance.bindings)));
        // The guest only borrowed what the call lent it; taking it all back
        // keeps the table of a reused instance from growing, and the transit
        // and batch alive no longer than the call.
        let state = store.data_mut();
        state.table = ResourceTable::new();
        state.transit = None;
        state.fixes = None;
        state.answered_bytes = 0;
        budget.fuel = store.get_fuel().unwrap_or(0);
        budget.geodesy_positions = store.data().geodesy_left;
        match outcome {
            Ok(Ok(value)) => {
                policy.give_back(instance);
                Ok(value)
            }
            Ok(Err(error)) => Err(failure(&error, limits)),
            Err(panic) => Err(PolicyFailure::HostPanic(panic_message(panic.as_ref()))),
        }
    }
}

/// What is left of one call's limits, shared by its attempts.
struct Budget {
    fuel: u64,
    geodesy_positions: u64,
    deadline: Instant,
}

impl Budget {
    /// Epoch ticks from now to the deadline, at least one: the next tick
    /// already interrupts a call whose time is up.
    fn epoch_ticks_left(&self) -> u64 {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let ticks = left.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

/// The failure a wasmtime error stands for.
fn failure(error: &wasmtime::Error, limits: &Limits) -> PolicyFailure {
    if let Some(spent) = error.downcast_ref::<GeodesySpent>() {
        return PolicyFailure::GeodesyBudget { budget: spent.budget };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => PolicyFailure::OutOfFuel { budget: limits.fuel },
        Some(Trap::Interrupt) => PolicyFailure::TimedOut {
            deadline: limits.deadline,
        },
        Some(trap) => PolicyFailure::Trap(trap.to_string()),
        // The root cause is what a host function or the linker said; the
        // layers above it are a WebAssembly backtrace, of no use in a report.
        None => PolicyFailure::Trap(error.root_cause().to_string()),
    }
}

/// The text a panic was raised with.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as the
/// engine lives, on a thread of its own: what makes deadlines fire.
fn advance_epochs(engine: EngineWeak) {
    let spawned = thread::Builder::new().name("escort-epoch".to_owned()).spawn(move || {
        while let Some(engine) = engine.upgrade() {
            engine.increment_epoch();
            drop(engine);
            thread::sleep(EPOCH_TICK);
        }
    });
    // Without the thread, deadlines never fire; fuel and the geodesy budget
    // still bound every call.
    drop(spawned);
}

/// A policy component linked against the contract, and its instances that
/// wait for the next call.
pub(crate) struct Instances {
    pre: BindingsPre<CallState>,
    idle: Mutex<Vec<Instance>>,
}

/// An instance of a policy in its own store.
struct Instance {
    store: Store<CallState>,
    bindings: Bindings,
}

impl Instances {
    /// The contract version the policy exports.
    pub(crate) fn version(&self) -> &'static str {
        self.pre.version()
    }

    fn take_idle(&self) -> Option<Instance> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    fn give_back(&self, instance: Instance) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_INSTANCES {
            idle.push(instance);
        }
    }
}

/// A count of free call slots: a call takes one for as long as it runs, and
/// waits when there is none.
struct Slots {
    count: Mutex<SlotCount>,
    freed: Condvar,
}

/// Free slots, and the calls waiting for one: a freed slot wakes a waiter
/// only when there is one, since a wake is a system call and most calls
/// find a slot free.
struct SlotCount {
    free: usize,
    waiting: usize,
}

/// One slot, given back when dropped.
struct Slot<'a>(&'a Slots);

impl Slots {
    fn new(count: usize) -> Slots {
        Slots {
            count: Mutex::new(SlotCount {
                free: count,
                waiting: 0,
            }),
            freed: Condvar::new(),
        }
    }

    fn take(&self) -> Slot<'_> {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while count.free == 0 {
            count.waiting += 1;
            count = self.freed.wait(count).unwrap_or_else(PoisonError::into_inner);
            count.waiting -= 1;
        }
        count.free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(PoisonError::into_inner);
        count.free += 1;
        if count.waiting > 0 {
            self.0.freed.notify_one();
        }
    }
}

impl CallState {
    /// The store data of a new instance, under `limits`, before any call.
    fn new(limits: &Limits) -> CallState {
        CallState {
            table: ResourceTable::new(),
            limits: limits.store_limits(),
            geodesy_budget: limits.geodesy_positions,
            geodesy_left: limits.geodesy_positions,
            transit: None,
            fixes: None,
            configured: None,
            answered_bytes: 0,
        }
    }

    /// Lends `value` to the guest for the length of the call: the host's
    /// side of a `borrow` handle, taken back when the call returns.
    pub(crate) fn lend<T: Send + 'static>(&mut self, value: T) -> wasmtime::Result<Resource<T>> {
        Ok(self.table.push(value)?)
    }

    /// Lends contract 0.2's call its transit and, for `observe`, its
    /// batch: what the `transit` and `batch` imports answer until the call
    /// returns.
    pub(crate) fn lend_call(&mut self, transit: &Arc<LentTransit>, fixes: Option<&Arc<v0_2::Fixes>>) {
        self.transit = Some(Arc::clone(transit));
        self.fixes = fixes.cloned();
    }

    /// The transit of the 0.2 call in progress.
    pub(crate) fn call_transit(&self) -> wasmtime::Result<&LentTransit> {
        self.transit
            .as_deref()
            .ok_or_else(|| wasmtime::format_err!("the transit was asked for outside `admit` and `observe`"))
    }

    /// The batch of the 0.2 `observe` in progress.
    pub(crate) fn call_fixes(&self) -> wasmtime::Result<Arc<v0_2::Fixes>> {
        self.fixes
            .clone()
            .ok_or_else(|| wasmtime::format_err!("the batch was asked for outside `observe`, or when it was empty"))
    }

    /// Charges an answer of about `bytes` bytes (at least
    /// [`QUESTION_BYTES`]) of the `transit` or `batch` imports to the call,
    /// before it is made; fails the call past [`MAX_ANSWER_BYTES`].
    pub(crate) fn answer(&mut self, bytes: usize) -> wasmtime::Result<()> {
        self.answered_bytes = self.answered_bytes.saturating_add(bytes.max(QUESTION_BYTES));
        if self.answered_bytes > MAX_ANSWER_BYTES {
            return Err(wasmtime::format_err!(
                "the call asked the transit and batch for more than {} MiB of answers",
                MAX_ANSWER_BYTES >> 20
            ));
        }
        Ok(())
    }

    /// Whether the instance was configured with `params` (the same values,
    /// not equal ones: a policy reconfigured gets new ones).
    pub(crate) fn is_configured_with(&self, params: &Arc<[v0_2::ParamValue]>) -> bool {
        self.configured
            .as_ref()
            .is_some_and(|configured| Arc::ptr_eq(configured, params))
    }

    /// Notes that the instance was configured with `params`.
    pub(crate) fn configured_with(&mut self, params: &Arc<[v0_2::ParamValue]>) {
        self.configured = Some(Arc::clone(params));
    }

    /// What `handle` lends the call.
    pub(crate) fn lent<T: 'static>(&self, handle: &Resource<T>) -> wasmtime::Result<&T> {
        Ok(self.table.get(handle)?)
    }

    /// Takes back a handle the guest dropped.
    pub(crate) fn take_back<T: 'static>(&mut self, handle: Resource<T>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }

    /// Checks a question about the positions `(lat[i], lon[i])` and charges
    /// it to the call's geodesy budget, before any work is done: one
    /// position each, and at least one for a question about none, which
    /// still costs the host a call (asked without end, it would otherwise
    /// run until the deadline, at a point that depends on the machine).
    pub(crate) fn ask(&mut self, lat: &[f64], lon: &[f64]) -> wasmtime::Result<()> {
        if lat.len() != lon.len() {
            // Different lengths are the guest's bug, and trap it rather than
            // guess.
            return Err(wasmtime::format_err!(
                "lat has {} values but lon has {}",
                lat.len(),
                lon.len()
            ));
        }
        let asked = u64::try_from(lat.len()).unwrap_or(u64::MAX).max(1);
        if asked > self.geodesy_left {
            self.geodesy_left = 0;
            return Err(wasmtime::Error::new(GeodesySpent {
                budget: self.geodesy_budget,
            }));
        }
        self.geodesy_left -= asked;
        // A fold without early exit, which the compiler vectorises: this
        // runs on every position of every batch, and nearly always passes.
        let all_wgs84 = lat
            .iter()
            .zip(lon)
            .fold(true, |all, (&lat, &lon)| all & is_wgs84(lat, lon));
        if all_wgs84 {
            return Ok(());
        }
        let index = lat
            .iter()
            .zip(lon)
            .position(|(&lat, &lon)| !is_wgs84(lat, lon))
            .unwrap_or_default();
        Err(wasmtime::format_err!(
            "position {index} ({}, {}) is not a WGS 84 position in degrees",
            lat[index],
            lon[index]
        ))
    }
}

/// Whether `(lat, lon)` is a position on the globe: finite, latitude within
/// ±90 and longitude within ±180 degrees.
fn is_wgs84(lat: f64, lon: f64) -> bool {
    // `&`, not `&&`, to keep the fold above free of branches; NaN fails
    // both comparisons.
    (lat.abs() <= 90.0) & (lon.abs() <= 180.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use escort_builtin::COMPONENTS;

    /// Issue 10, item 1: a panic of the host while it served a call (there,
    /// in the route index) killed the whole process. It fails that call.
    #[test]
    fn a_panic_of_the_host_during_a_call_fails_that_call_only() {
        let sandbox = Sandbox::with_cache(ComponentCache::disabled()).expect("the sandbox starts");
        let (_, seal) = COMPONENTS[3];
        let compiled = sandbox.compile(seal).expect("compiles");
        let instances = sandbox.prepare(&compiled.component).expect("links");
        let limits = Limits::default();
        let failure = sandbox
            .call(&instances, &limits, |_, _| -> wasmtime::Result<()> {
                panic!("a defect of the host")
            })
            .expect_err("the call fails");
        assert_eq!(failure, PolicyFailure::HostPanic("a defect of the host".to_owned()));
        assert_eq!(failure.kind(), "host_panic");
        let (descriptor, _) = sandbox
            .call(&instances, &limits, |store, bindings| match bindings {
                Bindings::V0_1(policy) => Ok(policy.escort_policy_policy().call_describe(store)?.id),
                Bindings::V0_2(policy) => Ok(policy.escort_policy_policy().call_describe(store)?.id),
            })
            .expect("the next call is served");
        assert_eq!(descriptor, "seal");
    }

    #[test]
    fn a_policy_s_own_error_is_held_to_the_bound_of_its_evidence() {
        let short = PolicyFailure::error("ZeroDivisionError: division by zero (app.py, line 12)".to_owned());
        assert_eq!(
            short,
            PolicyFailure::Error("ZeroDivisionError: division by zero (app.py, line 12)".to_owned())
        );
        let PolicyFailure::Error(long) = PolicyFailure::error("é".repeat(1 << 20)) else {
            unreachable!()
        };
        assert!(long.len() <= MAX_EVIDENCE_TEXT_BYTES, "{}", long.len());
        assert!(long.ends_with("é…"), "cut on a character and marked");
    }

    #[test]
    fn a_question_about_positions_is_checked_and_charged_before_any_work() {
        let mut state = CallState::new(&Limits {
            geodesy_positions: 3,
            ..Limits::default()
        });
        assert_eq!(state.ask(&[43.0, 44.0], &[76.0, 77.0]).ok(), Some(()));
        assert_eq!(state.geodesy_left, 1);
        let error = state.ask(&[43.0], &[f64::INFINITY]).expect_err("not a position");
        assert_eq!(
            error.to_string(),
            "position 0 (43, inf) is not a WGS 84 position in degrees"
        );
        let error = state.ask(&[43.0, 44.0], &[76.0]).expect_err("ragged columns");
        assert_eq!(error.to_string(), "lat has 2 values but lon has 1");
        let error = state.ask(&[43.0], &[76.0]).expect_err("over budget");
        assert!(error.downcast_ref::<GeodesySpent>().is_some(), "{error}");
    }

    #[test]
    fn a_question_about_no_position_costs_one() {
        let mut state = CallState::new(&Limits {
            geodesy_positions: 2,
            ..Limits::default()
        });
        assert_eq!(state.ask(&[], &[]).ok(), Some(()));
        assert_eq!(state.geodesy_left, 1);
        assert_eq!(state.ask(&[], &[]).ok(), Some(()));
        let error = state.ask(&[], &[]).expect_err("over budget");
        assert!(error.downcast_ref::<GeodesySpent>().is_some(), "{error}");
    }
}
