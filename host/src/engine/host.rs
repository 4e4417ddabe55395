//! What a policy's store holds, and the host side of the `documents` and `log`
//! interfaces. Nothing here gives a policy access to anything outside its inputs.

use super::bindings::preflight::policy::{documents, log, types};
use crate::model::LogLine;
use serde_json::Value;
use std::sync::Arc;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The host's side of a `document` handle: a parsed input, shared by every policy.
pub struct DocumentHandle {
    pub name: String,
    pub content: Arc<super::Content>,
}

/// The error a memory growth past the limit traps with.
#[derive(Debug)]
pub struct MemoryLimitExceeded {
    pub limit: usize,
}

impl std::fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "memory limit of {} bytes exceeded", self.limit)
    }
}

impl std::error::Error for MemoryLimitExceeded {}

/// Caps what a store may allocate. Growing memory past the limit traps (rather than
/// failing the `memory.grow`), so the report can say exactly what happened.
pub struct Limiter {
    pub memory: usize,
    pub table_elements: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        if desired > self.memory {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.memory,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        100
    }

    fn tables(&self) -> usize {
        100
    }

    fn memories(&self) -> usize {
        10
    }
}

/// Bounded storage for what a policy logs.
pub struct Logs {
    pub lines: Vec<LogLine>,
    bytes: usize,
    max_bytes: usize,
    pub dropped: usize,
}

impl Logs {
    pub fn new(max_bytes: usize) -> Logs {
        Logs {
            lines: Vec::new(),
            bytes: 0,
            max_bytes,
            dropped: 0,
        }
    }

    pub fn push(&mut self, level: &str, message: String) {
        if self.bytes + message.len() > self.max_bytes {
            self.dropped += 1;
            return;
        }
        self.bytes += message.len();
        self.lines.push(LogLine {
            level: level.to_owned(),
            message,
        });
    }
}

/// The data of one store: one evaluation of one policy.
pub struct HostState {
    pub limiter: Limiter,
    pub table: ResourceTable,
    pub logs: Logs,
    /// Created on first use, only for components that import WASI.
    wasi: Option<WasiCtx>,
    pub stdout: Option<MemoryOutputPipe>,
    pub stderr: Option<MemoryOutputPipe>,
    output_capacity: usize,
}

impl HostState {
    pub fn new(limiter: Limiter, log_bytes: usize) -> HostState {
        HostState {
            limiter,
            table: ResourceTable::new(),
            logs: Logs::new(log_bytes),
            wasi: None,
            stdout: None,
            stderr: None,
            output_capacity: log_bytes,
        }
    }

    /// Moves what the policy wrote to stdout and stderr (WASI) into its log lines.
    pub fn collect_output(&mut self) {
        for (level, pipe) in [
            ("stdout", self.stdout.take()),
            ("stderr", self.stderr.take()),
        ] {
            let Some(pipe) = pipe else { continue };
            let text = String::from_utf8_lossy(&pipe.contents()).into_owned();
            for line in text.lines().filter(|line| !line.is_empty()) {
                self.logs.push(level, line.to_owned());
            }
        }
    }

    fn document(&self, handle: &Resource<DocumentHandle>) -> Result<&DocumentHandle> {
        Ok(self.table.get(handle)?)
    }
}

impl WasiView for HostState {
    /// A deny-all WASI context: no preopened directories, no environment, no
    /// arguments, no network, empty stdin; stdout and stderr go to bounded buffers.
    fn ctx(&mut self) -> WasiCtxView<'_> {
        if self.wasi.is_none() {
            let stdout = MemoryOutputPipe::new(self.output_capacity);
            let stderr = MemoryOutputPipe::new(self.output_capacity);
            let ctx = WasiCtxBuilder::new()
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build();
            self.stdout = Some(stdout);
            self.stderr = Some(stderr);
            self.wasi = Some(ctx);
        }
        WasiCtxView {
            ctx: self.wasi.as_mut().expect("created above"),
            table: &mut self.table,
        }
    }
}

/// One level of a JSON value, as the WIT `value` variant.
fn shallow(value: &Value) -> types::Value {
    match value {
        Value::Null => types::Value::Null,
        Value::Bool(b) => types::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => types::Value::Integer(i),
            None => types::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => types::Value::Text(s.clone()),
        Value::Array(items) => types::Value::Array(u32::try_from(items.len()).unwrap_or(u32::MAX)),
        Value::Object(members) => {
            types::Value::Object(u32::try_from(members.len()).unwrap_or(u32::MAX))
        }
    }
}

impl types::Host for HostState {}

impl documents::Host for HostState {}

impl documents::HostDocument for HostState {
    fn name(&mut self, handle: Resource<DocumentHandle>) -> Result<String> {
        Ok(self.document(&handle)?.name.clone())
    }

    fn get(
        &mut self,
        handle: Resource<DocumentHandle>,
        pointer: String,
    ) -> Result<Option<types::Value>> {
        Ok(self
            .document(&handle)?
            .content
            .value()
            .pointer(&pointer)
            .map(shallow))
    }

    fn keys(
        &mut self,
        handle: Resource<DocumentHandle>,
        pointer: String,
    ) -> Result<Option<Vec<String>>> {
        Ok(
            match self.document(&handle)?.content.value().pointer(&pointer) {
                Some(Value::Object(members)) => Some(members.keys().cloned().collect()),
                _ => None,
            },
        )
    }

    fn to_json(
        &mut self,
        handle: Resource<DocumentHandle>,
        pointer: String,
    ) -> Result<Option<String>> {
        match self.document(&handle)?.content.value().pointer(&pointer) {
            Some(value) => Ok(Some(serde_json::to_string(value)?)),
            None => Ok(None),
        }
    }

    /// Shadowed in `Engine::new` by a version that lowers the shared tape without
    /// copying it first; kept for the generated trait.
    fn encoded(&mut self, handle: Resource<DocumentHandle>) -> Result<Vec<u8>> {
        Ok(self.document(&handle)?.content.tape().to_vec())
    }

    fn drop(&mut self, handle: Resource<DocumentHandle>) -> Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) -> Result<()> {
        let level = match level {
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.logs.push(level, message);
        Ok(())
    }
}
