//! The policy engine: loads components, runs them in sandboxed stores with limits,
//! and turns whatever they do (findings, traps, garbage) into a [`PolicyRun`].

mod cache;
mod host;
pub mod tape;

pub use cache::Cache;

use crate::model::{
    DocumentNeed, Finding, LogLine, PolicyInfo, PolicyRun, PolicySource, RuleInfo, Severity, Status,
};
use host::{DocumentHandle, HostState, Limiter, MemoryLimitExceeded};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, Resource, types::ComponentItem};
use wasmtime::{Store, Trap};

#[allow(clippy::all)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "preflight:policy/policy",
        with: {
            "preflight:policy/documents.document": super::host::DocumentHandle,
        },
        imports: { default: trappable },
    });
}

use bindings::preflight::policy::types as wit;

/// The document names a policy may ask for.
pub const DOCUMENT_NAMES: &[&str] = &["environment", "site", "template", "base-template"];

/// Per-evaluation limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Fuel units (roughly, wasm instructions) per call; deterministic.
    pub fuel: u64,
    /// Linear memory, bytes.
    pub memory: usize,
    /// Wall-clock time per call.
    pub timeout: Duration,
    /// Findings per evaluation.
    pub max_findings: usize,
    /// Bytes of text (message + remediation + pointer) per finding.
    pub max_finding_bytes: usize,
    /// Bytes of log and stdout/stderr kept per evaluation.
    pub log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel: 2_000_000_000,
            memory: 256 << 20,
            timeout: Duration::from_secs(10),
            max_findings: 1_000,
            max_finding_bytes: 16 << 10,
            log_bytes: 64 << 10,
        }
    }
}

/// How instances get their memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocation {
    /// `mmap` per instance: nothing reserved up front. Best for a single check.
    OnDemand,
    /// A pool of pre-reserved slots, reused: cheapest instantiation for many evaluations.
    Pooling { instances: u32 },
}

#[derive(Clone, Debug)]
pub struct EngineOptions {
    pub limits: Limits,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<std::path::PathBuf>,
    pub allocation: Allocation,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            limits: Limits::default(),
            cache_dir: Cache::default_dir(),
            allocation: Allocation::OnDemand,
        }
    }
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly file (it does not start with `\\0asm`)")]
    NotWasm,
    #[error(
        "a core WebAssembly module, not a component: build it with `preflight policy build` \
         (or `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("not a valid component: {0}")]
    Invalid(String),
    #[error(
        "imports `{0}`, which the host does not provide: a policy may import only \
         `preflight:policy/documents`, `preflight:policy/log` and WASI 0.2"
    )]
    ForbiddenImport(String),
    #[error("does not implement the `preflight:policy/policy@1.x` world: {0}")]
    WrongWorld(String),
    #[error("`info` failed: {0}")]
    Info(String),
    #[error("gave invalid info: {0}")]
    BadInfo(String),
}

/// A loaded, checked policy, ready to be instantiated any number of times.
#[derive(Clone)]
pub struct Policy {
    pub info: PolicyInfo,
    pub source: PolicySource,
    pub sha256: String,
    pub size: usize,
    /// The component's imports, as a reviewer wants to see them.
    pub imports: Vec<String>,
    /// Whether it imports WASI (and so runs with a deny-all WASI context).
    pub uses_wasi: bool,
    /// Whether the compiled code came from the on-disk cache.
    pub from_cache: bool,
    pre: bindings::PolicyPre<HostState>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.info.name)
            .field("source", &self.source)
            .finish()
    }
}

/// A named input document, parsed once and shared by all policies.
#[derive(Clone, Debug)]
pub struct Document {
    pub name: String,
    content: Arc<Content>,
}

/// A document as a `serde_json::Value`, as a tape, or both: each is made from the
/// other the first time it is asked for, then kept and shared.
#[derive(Debug, Default)]
pub struct Content {
    value: std::sync::OnceLock<Arc<Value>>,
    /// Shared, so that `encoded` hands it to each policy without a copy of its own.
    tape: std::sync::OnceLock<Arc<Vec<u8>>>,
}

impl Content {
    /// The document as a value (decoded from the tape on first use).
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| {
            let tape = self.tape.get().expect("a document has a value or a tape");
            Arc::new(tape::Reader::new(tape).to_value(tape::ROOT))
        })
    }

    /// The document as a tape (encoded from the value on first use).
    pub fn tape(&self) -> &[u8] {
        self.shared_tape()
    }

    /// The tape, shared.
    pub fn shared_tape(&self) -> &Arc<Vec<u8>> {
        self.tape.get_or_init(|| {
            Arc::new(tape::encode(
                self.value.get().expect("a document has a value or a tape"),
            ))
        })
    }
}

impl Document {
    pub fn new(name: impl Into<String>, value: Arc<Value>) -> Document {
        Document {
            name: name.into(),
            content: Arc::new(Content {
                value: value.into(),
                tape: std::sync::OnceLock::new(),
            }),
        }
    }

    /// A document parsed straight into a tape ([`tape::parse_json`]); its value is
    /// only made if a policy reads it through `get`, `keys` or `to-json`.
    pub fn from_tape(name: impl Into<String>, tape: Vec<u8>) -> Document {
        Document {
            name: name.into(),
            content: Arc::new(Content {
                value: std::sync::OnceLock::new(),
                tape: Arc::new(tape).into(),
            }),
        }
    }

    pub fn value(&self) -> &Value {
        self.content.value()
    }

    /// The document as a tape.
    pub fn tape(&self) -> &[u8] {
        self.content.tape()
    }

    /// The string at `pointer`, from whichever form the document already has.
    pub fn str_at(&self, pointer: &str) -> Option<&str> {
        match self.content.tape.get() {
            Some(bytes) => {
                let reader = tape::Reader::new(bytes);
                reader.str(reader.resolve(pointer)?)
            }
            None => self.content.value().pointer(pointer)?.as_str(),
        }
    }
}

/// Bumps the engine's epoch on a fixed tick, so deadlines interrupt running guests.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const TICK: Duration = Duration::from_millis(5);

impl EpochTicker {
    fn start(engine: wasmtime::Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("preflight-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// The wasmtime engine, linker, limits and cache; shared (by reference) across threads.
pub struct Engine {
    engine: wasmtime::Engine,
    linker: Linker<HostState>,
    limits: Limits,
    cache: Option<Cache>,
    _ticker: EpochTicker,
}

/// A live instance of a policy and its store, kept between evaluations.
struct Live {
    store: Store<HostState>,
    instance: bindings::Policy,
}

/// Evaluations that keep one live instance per policy instead of instantiating for
/// every call: what `audit` uses for thousands of snapshots. Each call still gets
/// full fuel, a fresh deadline, empty logs and only its own documents; an instance
/// that trapped is thrown away and the next call instantiates anew. What an instance
/// keeps in its own memory between calls is the policy's business: policies must not
/// carry state from one evaluation to the next (the SDK keeps only parsed settings),
/// and `audit --isolate` gives every evaluation a fresh instance, as `check` does.
/// One `Runner` per thread; they share the [`Engine`].
pub struct Runner<'e> {
    engine: &'e Engine,
    live: Vec<Option<Live>>,
}

impl Runner<'_> {
    /// Evaluates the policy at `slot` (a stable index, one per policy) on the documents.
    pub fn evaluate(
        &mut self,
        slot: usize,
        policy: &Policy,
        documents: &[Document],
        settings: &str,
    ) -> PolicyRun {
        if self.live.len() <= slot {
            self.live.resize_with(slot + 1, || None);
        }
        self.engine
            .evaluate_in(&mut self.live[slot], policy, documents, settings, true)
    }
}

/// What went wrong in a call into a policy.
enum CallError {
    /// A trap, a limit, or a host error while the guest ran.
    Wasm(wasmtime::Error),
}

impl Engine {
    pub fn new(options: EngineOptions) -> anyhow::Result<Engine> {
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .memory_init_cow(true)
            .parallel_compilation(true);
        if let Allocation::Pooling { instances } = options.allocation {
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_component_instances(instances)
                .total_core_instances(instances * 4)
                .total_memories(instances * 2)
                .total_tables(instances * 4)
                .max_memories_per_component(4)
                .max_memory_size(options.limits.memory);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = wasmtime::Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        bindings::Policy::add_to_linker::<_, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |state| state,
        )?;
        // `encoded` again, by hand: the generated binding must return a `Vec<u8>`,
        // a copy of the tape per policy before the copy into the policy's memory;
        // an `Arc` is lowered straight from the one shared tape.
        linker.allow_shadowing(true);
        linker
            .instance("preflight:policy/documents@1.0.0")?
            .func_wrap(
                "[method]document.encoded",
                |store: wasmtime::StoreContextMut<'_, HostState>,
                 (handle,): (Resource<DocumentHandle>,)| {
                    let document = store.data().table.get(&handle)?;
                    Ok((document.content.shared_tape().clone(),))
                },
            )?;
        linker.allow_shadowing(false);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let cache = options.cache_dir.map(|dir| Cache::new(dir, &engine));
        let ticker = EpochTicker::start(engine.clone());
        Ok(Engine {
            engine,
            linker,
            limits: options.limits,
            cache,
            _ticker: ticker,
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Loads a component: checks its kind and imports, compiles it (or takes it from
    /// the cache), links it, and asks for its info.
    pub fn load(
        &self,
        source: PolicySource,
        bytes: &[u8],
        sha256: Option<&str>,
    ) -> Result<Policy, LoadError> {
        if wasmparser::Parser::is_core_wasm(bytes) {
            return Err(LoadError::CoreModule);
        }
        if !wasmparser::Parser::is_component(bytes) {
            return Err(LoadError::NotWasm);
        }
        let sha256 = match sha256 {
            Some(digest) => digest.to_owned(),
            None => hex::encode(Sha256::digest(bytes)),
        };
        let (component, from_cache) = match &self.cache {
            Some(cache) => cache.load(&self.engine, bytes, &sha256),
            None => Component::new(&self.engine, bytes).map(|c| (c, false)),
        }
        .map_err(|err| LoadError::Invalid(format!("{err:#}")))?;

        let ty = component.component_type();
        let mut imports = Vec::new();
        let mut uses_wasi = false;
        for (name, item) in ty.imports(&self.engine) {
            match item.ty {
                ComponentItem::ComponentInstance(_) => {}
                // A type (such as the world's `use` of `document`) carries no authority.
                ComponentItem::Type(_) | ComponentItem::Resource(_) => continue,
                _ => return Err(LoadError::ForbiddenImport(name.to_owned())),
            }
            if name.starts_with("wasi:") && name.contains("@0.2.") {
                uses_wasi = true;
            } else if !(name.starts_with("preflight:policy/documents@1.")
                || name.starts_with("preflight:policy/log@1.")
                || name.starts_with("preflight:policy/types@1."))
            {
                return Err(LoadError::ForbiddenImport(name.to_owned()));
            }
            imports.push(name.to_owned());
        }

        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|err| LoadError::WrongWorld(format!("{err:#}")))?;
        let pre = bindings::PolicyPre::new(instance_pre)
            .map_err(|err| LoadError::WrongWorld(format!("{err:#}")))?;

        let mut store = self.store();
        let raw = self
            .call(&mut store, |store| {
                let instance = pre.instantiate(&mut *store)?;
                instance.call_info(&mut *store)
            })
            .map_err(|err| LoadError::Info(self.describe(err, &store)))?;
        let info = check_info(raw).map_err(LoadError::BadInfo)?;
        Ok(Policy {
            info,
            source,
            sha256,
            size: bytes.len(),
            imports,
            uses_wasi,
            from_cache,
            pre,
        })
    }

    /// A fresh store with the limits installed: one per call, so nothing leaks
    /// between evaluations.
    fn store(&self) -> Store<HostState> {
        let limiter = Limiter {
            memory: self.limits.memory,
            table_elements: 1_000_000,
        };
        let mut store = Store::new(&self.engine, HostState::new(limiter, self.limits.log_bytes));
        store.limiter(|state| &mut state.limiter);
        store
            .set_fuel(self.limits.fuel)
            .expect("fuel is enabled in the config");
        store.set_epoch_deadline(self.deadline_ticks());
        store.epoch_deadline_trap();
        store
    }

    /// The timeout in epoch ticks. wasmtime adds the current epoch to this: leave room
    /// so the sum cannot wrap into a deadline in the past (which interrupts every call).
    fn deadline_ticks(&self) -> u64 {
        let ticks = self
            .limits
            .timeout
            .as_millis()
            .div_ceil(TICK.as_millis())
            .max(1);
        u64::try_from(ticks).unwrap_or(u64::MAX).min(u64::MAX / 2)
    }

    fn call<T>(
        &self,
        store: &mut Store<HostState>,
        f: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, CallError> {
        let result = f(store);
        store.data_mut().collect_output();
        result.map_err(CallError::Wasm)
    }

    /// Says what went wrong, by the type of the error, never by its text.
    fn describe(&self, err: CallError, store: &Store<HostState>) -> String {
        let CallError::Wasm(err) = err;
        let last_words = || {
            store
                .data()
                .logs
                .lines
                .last()
                // A reason is one line (docs/json-output.md); a panic message is not.
                .map(|line| {
                    let words: Vec<&str> = line.message.split_whitespace().collect();
                    format!("; its last message: {}", words.join(" "))
                })
                .unwrap_or_default()
        };
        if let Some(limit) = err.downcast_ref::<MemoryLimitExceeded>() {
            return format!(
                "exceeded the memory limit of {} (raise it with --max-memory)",
                human_bytes(limit.limit)
            );
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => format!(
                "ran out of fuel after {} units (raise it with --fuel)",
                self.limits.fuel
            ),
            Some(Trap::Interrupt) => format!(
                "did not finish within the time limit of {} (raise it with --timeout)",
                human_duration(self.limits.timeout)
            ),
            Some(Trap::UnreachableCodeReached) => {
                format!("trapped: it aborted (wasm `unreachable`){}", last_words())
            }
            Some(trap) => format!("trapped: {trap}{}", last_words()),
            None => format!("failed: {}{}", flatten(&err), last_words()),
        }
    }

    /// Runs the policy's `validate-settings`. `Err` carries the policy's message or
    /// what went wrong while it ran.
    pub fn validate_settings(&self, policy: &Policy, settings: &str) -> Result<(), String> {
        let mut store = self.store();
        match self.call(&mut store, |store| {
            let instance = policy.pre.instantiate(&mut *store)?;
            instance.call_validate_settings(&mut *store, settings)
        }) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(message),
            Err(err) => Err(format!(
                "`validate-settings` {}",
                self.describe(err, &store)
            )),
        }
    }

    /// Evaluates one policy on the documents, in a fresh instance. Never panics and
    /// never fails: every outcome, however the policy misbehaves, is a [`PolicyRun`].
    pub fn evaluate(&self, policy: &Policy, documents: &[Document], settings: &str) -> PolicyRun {
        let mut live = None;
        self.evaluate_in(&mut live, policy, documents, settings, false)
    }

    /// A set of evaluations that keeps one live instance per policy (see [`Runner`]).
    pub fn runner(&self) -> Runner<'_> {
        Runner {
            engine: self,
            live: Vec::new(),
        }
    }

    /// Runs `evaluate` in `live` (instantiated first when `None`). With `keep`, the
    /// instance is left in `live` for the next evaluation, unless the call trapped:
    /// a trapped instance is never entered again.
    fn evaluate_in(
        &self,
        live: &mut Option<Live>,
        policy: &Policy,
        documents: &[Document],
        settings: &str,
        keep: bool,
    ) -> PolicyRun {
        let started = Instant::now();
        let mut given = Vec::new();
        for need in &policy.info.documents {
            match documents.iter().find(|doc| doc.name == need.name) {
                Some(doc) => given.push(doc),
                None if need.optional => {}
                None => {
                    return PolicyRun {
                        status: Status::Skipped,
                        reason: Some(format!(
                            "needs the `{}` document, which was not given (--{})",
                            need.name,
                            if need.name == "environment" {
                                "env"
                            } else {
                                need.name.as_str()
                            }
                        )),
                        findings: Vec::new(),
                        duration: started.elapsed(),
                        fuel_used: 0,
                        logs: Vec::new(),
                    };
                }
            }
        }

        let (mut store, instance) = match live.take() {
            Some(Live {
                mut store,
                instance,
            }) => {
                self.reset(&mut store);
                (store, Some(instance))
            }
            None => (self.store(), None),
        };
        let handles: Result<Vec<Resource<DocumentHandle>>, _> = given
            .iter()
            .map(|doc| {
                store.data_mut().table.push(DocumentHandle {
                    name: doc.name.clone(),
                    content: doc.content.clone(),
                })
            })
            .collect();
        let mut instance = instance;
        let result = match handles {
            Ok(handles) => self.call(&mut store, |store| {
                let instance = match &instance {
                    Some(instance) => instance,
                    None => instance.insert(policy.pre.instantiate(&mut *store)?),
                };
                instance.call_evaluate(&mut *store, &handles, settings)
            }),
            Err(err) => Err(CallError::Wasm(err.into())),
        };
        let fuel_used = self.limits.fuel - store.get_fuel().unwrap_or(0);
        let trapped = result.is_err();
        let (status, reason, findings) = match result {
            Ok(Ok(findings)) => match self.check_findings(policy, &given, findings) {
                Ok(findings) => (Status::Ok, None, findings),
                Err(reason) => (Status::Error, Some(reason), Vec::new()),
            },
            Ok(Err(err)) => (Status::Error, Some(evaluation_error(err)), Vec::new()),
            Err(err) => (Status::Error, Some(self.describe(err, &store)), Vec::new()),
        };
        let mut logs: Vec<LogLine> = std::mem::take(&mut store.data_mut().logs.lines);
        let dropped = store.data().logs.dropped;
        if dropped > 0 {
            logs.push(LogLine {
                level: "warn".into(),
                message: format!("{dropped} more messages were dropped (log limit)"),
            });
        }
        if keep
            && !trapped
            && let Some(instance) = instance
        {
            *live = Some(Live { store, instance });
        }
        PolicyRun {
            status,
            reason,
            findings,
            duration: started.elapsed(),
            fuel_used,
            logs,
        }
    }

    /// Makes a used store ready for the next call: full fuel, a new deadline and
    /// empty logs. (A document handle the guest did not drop stays in its table; it
    /// gives the policy nothing it was not already shown.)
    fn reset(&self, store: &mut Store<HostState>) {
        store
            .set_fuel(self.limits.fuel)
            .expect("fuel is enabled in the config");
        store.set_epoch_deadline(self.deadline_ticks());
        store.data_mut().logs = host::Logs::new(self.limits.log_bytes);
    }

    /// Findings are data from an untrusted guest: check every one against the limits
    /// and the policy's own declarations.
    fn check_findings(
        &self,
        policy: &Policy,
        given: &[&Document],
        findings: Vec<wit::Finding>,
    ) -> Result<Vec<Finding>, String> {
        if findings.len() > self.limits.max_findings {
            return Err(format!(
                "returned {} findings, more than the limit of {} (raise it with --max-findings)",
                findings.len(),
                self.limits.max_findings
            ));
        }
        findings
            .into_iter()
            .map(|finding| {
                let size = finding.message.len()
                    + finding.pointer.len()
                    + finding.remediation.as_ref().map_or(0, String::len);
                if size > self.limits.max_finding_bytes {
                    return Err(format!(
                        "returned a finding of rule `{}` of {} bytes, more than the limit of {}",
                        finding.rule_id, size, self.limits.max_finding_bytes
                    ));
                }
                if policy.info.rule(&finding.rule_id).is_none() {
                    return Err(format!(
                        "returned a finding of the undeclared rule `{}`",
                        finding.rule_id
                    ));
                }
                if finding.message.trim().is_empty() {
                    return Err(format!(
                        "returned a finding of rule `{}` with an empty message",
                        finding.rule_id
                    ));
                }
                if !given.iter().any(|doc| doc.name == finding.document) {
                    return Err(format!(
                        "returned a finding of rule `{}` about the document `{}`, which it was not given",
                        finding.rule_id, finding.document
                    ));
                }
                if !(finding.pointer.is_empty() || finding.pointer.starts_with('/')) {
                    return Err(format!(
                        "returned a finding of rule `{}` with the invalid JSON pointer `{}`",
                        finding.rule_id, finding.pointer
                    ));
                }
                Ok(Finding {
                    rule_id: finding.rule_id,
                    policy: policy.info.name.clone(),
                    severity: severity(finding.severity),
                    message: finding.message,
                    document: finding.document,
                    file: None,
                    pointer: finding.pointer,
                    remediation: finding.remediation,
                })
            })
            .collect()
    }

    /// Instantiates the policy in a fresh store with the limits, as every evaluation
    /// does, and calls nothing. For `host/benches/engine.rs` only.
    #[doc(hidden)]
    pub fn instantiate_for_bench(&self, policy: &Policy) -> wasmtime::Result<()> {
        let mut store = self.store();
        policy.pre.instantiate(&mut store)?;
        Ok(())
    }
}

fn severity(severity: wit::Severity) -> Severity {
    match severity {
        wit::Severity::Info => Severity::Info,
        wit::Severity::Warning => Severity::Warning,
        wit::Severity::Error => Severity::Error,
    }
}

fn evaluation_error(err: wit::EvaluationError) -> String {
    match err {
        wit::EvaluationError::InvalidSettings(message) => {
            format!("rejected its settings: {message}")
        }
        wit::EvaluationError::InvalidDocument(problem) => format!(
            "cannot read the `{}` document at `{}`: {}",
            problem.document, problem.pointer, problem.message
        ),
        wit::EvaluationError::Failed(message) => format!("failed: {message}"),
    }
}

/// Checks what a policy says about itself; the rest of the host relies on it.
fn check_info(info: wit::PolicyInfo) -> Result<PolicyInfo, String> {
    let valid_name = !info.name.is_empty()
        && info.name.len() <= 64
        && info
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !info.name.starts_with('-');
    if !valid_name {
        return Err(format!(
            "the name `{}` is not kebab-case (lowercase letters, digits and `-`, at most 64)",
            info.name
        ));
    }
    if info.version.trim().is_empty() {
        return Err("the version is empty".into());
    }
    if info.rules.is_empty() {
        return Err("it declares no rules".into());
    }
    let mut rules: Vec<RuleInfo> = Vec::with_capacity(info.rules.len());
    for rule in info.rules {
        if rule.id.trim().is_empty() || rule.id.chars().any(char::is_whitespace) {
            return Err(format!("the rule id `{}` is empty or has spaces", rule.id));
        }
        if rules.iter().any(|known| known.id == rule.id) {
            return Err(format!("the rule id `{}` is declared twice", rule.id));
        }
        rules.push(RuleInfo {
            id: rule.id,
            title: rule.title,
            default_severity: severity(rule.default_severity),
            help: rule.help,
            help_url: rule.help_url,
        });
    }
    let mut documents = Vec::new();
    for need in info.documents {
        if !DOCUMENT_NAMES.contains(&need.name.as_str()) {
            return Err(format!(
                "it asks for the unknown document `{}` (known: {})",
                need.name,
                DOCUMENT_NAMES.join(", ")
            ));
        }
        documents.push(DocumentNeed {
            name: need.name,
            optional: need.optional,
        });
    }
    let settings_schema = match info.settings_schema {
        None => None,
        Some(text) => Some(
            serde_json::from_str::<Value>(&text)
                .map_err(|err| format!("its settings schema is not JSON: {err}"))?,
        ),
    };
    Ok(PolicyInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        rules,
        documents,
        settings_schema,
    })
}

/// The whole chain of an error on one line.
fn flatten(err: &wasmtime::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        text.push_str(": ");
        text.push_str(&cause.to_string());
    }
    text
}

pub fn human_bytes(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

pub fn human_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}
