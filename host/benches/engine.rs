//! The engine's hot paths (docs/performance.md):
//!
//! - `instantiate`: a new store plus `instantiate` from the kept `PolicyPre`, which
//!   every evaluation pays once per policy, with both instance allocators;
//! - `evaluate`: every built-in policy evaluated on the not-ready example, as
//!   `check --env` does it (the policies that need a site are skipped);
//! - `documents`: what reading the snapshot costs a policy: pointer queries, one
//!   subtree as JSON (`to-json`), or the whole document as JSON text parsed inside
//!   the sandbox (the design preflight did not take), on the example and on a larger
//!   snapshot. These use a benchmark-only policy (`benches/json-guest/`), built here
//!   for `wasm32-unknown-unknown`, whose settings choose how it reads; native
//!   serde_json figures are there for scale.
//!
//! Run: `cargo bench -p preflight --bench engine -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use preflight::engine::{Allocation, Document, Engine, EngineOptions, Limits, Policy};
use preflight::model::{PolicySource, Status};
use std::hint::black_box;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf()
}

/// An engine without the on-disk cache, so nothing outside the target dir is touched.
fn engine(allocation: Allocation) -> Engine {
    Engine::new(EngineOptions {
        limits: Limits::default(),
        cache_dir: None,
        allocation,
    })
    .expect("starting the engine")
}

fn builtin(engine: &Engine) -> Vec<Policy> {
    preflight::builtin::BUILTIN_POLICIES
        .iter()
        .map(|(file, bytes, sha256)| {
            engine
                .load(
                    PolicySource::Builtin((*file).to_owned()),
                    bytes,
                    Some(sha256),
                )
                .expect("loading a built-in policy")
        })
        .collect()
}

fn environment(example: &str) -> Vec<Document> {
    let path = repo_root()
        .join("examples")
        .join(example)
        .join("environment.json");
    let input = preflight::inputs::load_document("environment", &path).expect("the example");
    vec![Document::new(input.name, input.value)]
}

/// Builds the benchmark policy into `<target>/bench-guest` (cargo makes it once).
fn bench_guest() -> Vec<u8> {
    // The bench runs as `<target>/<profile>/deps/engine-<hash>`.
    let exe = std::env::current_exe().expect("the bench executable");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("<target>/<profile>/deps/<bench>");
    let built = preflight_componentize::build(&preflight_componentize::Build {
        manifest_path: Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/json-guest/Cargo.toml"),
        packages: Vec::new(),
        target_dir: target.join("bench-guest"),
        target: preflight_componentize::Target::Unknown,
        features: Vec::new(),
        remap: Vec::new(),
    })
    .unwrap_or_else(|err| panic!("building the benchmark policy: {err:#}"));
    built.into_iter().next().expect("one component").component
}

fn instantiate(c: &mut Criterion) {
    let mut group = c.benchmark_group("instantiate");
    for (label, allocation) in [
        ("on-demand", Allocation::OnDemand),
        ("pooling-64", Allocation::Pooling { instances: 64 }),
    ] {
        let engine = engine(allocation);
        for policy in &builtin(&engine) {
            group.bench_function(format!("{}/{label}", policy.info.name), |b| {
                b.iter(|| engine.instantiate_for_bench(policy).expect("instantiating"));
            });
        }
    }
    group.finish();
}

fn evaluate(c: &mut Criterion) {
    let documents = environment("contoso-not-ready");
    let mut group = c.benchmark_group("evaluate");
    for (label, allocation) in [
        ("on-demand", Allocation::OnDemand),
        ("pooling-64", Allocation::Pooling { instances: 64 }),
    ] {
        let engine = engine(allocation);
        let policies = builtin(&engine);
        group.bench_function(format!("builtin-pack/{label}"), |b| {
            b.iter(|| {
                // As `check --env` does: the policies that need a site are skipped.
                for policy in &policies {
                    let run = engine.evaluate(policy, &documents, "{}");
                    assert_ne!(run.status, Status::Error, "{:?}", run.reason);
                    black_box(run);
                }
            });
        });
    }
    group.finish();
}

/// The example with `extra` more solutions, as large environments list hundreds
/// (`pac solution list --includeSystemSolutions`); the maps are unchanged.
fn with_solutions(example: &Document, extra: usize) -> Document {
    let mut value = example.value().clone();
    let solutions = value["solutions"]
        .as_array_mut()
        .expect("a solutions array");
    for i in 0..extra {
        solutions.push(serde_json::json!({
            "uniqueName": format!("ContosoExtension{i:03}"),
            "version": format!("1.0.{i}.0"),
            "managed": true,
        }));
    }
    Document::new(example.name.clone(), std::sync::Arc::new(value))
}

fn documents(c: &mut Criterion) {
    let example = environment("contoso-not-ready").remove(0);
    let large = with_solutions(&example, 400);
    let engine = engine(Allocation::OnDemand);
    let bytes = bench_guest();
    let policy = engine
        .load(
            PolicySource::File("bench-json-guest.wasm".into()),
            &bytes,
            None,
        )
        .expect("loading the benchmark policy");

    let mut group = c.benchmark_group("documents");
    for document in [example, large] {
        let text = serde_json::to_string(document.value()).expect("serializes");
        let size = format!("{}KB", text.len().div_ceil(1000));
        let documents = vec![document];
        for mode in ["none", "queries", "subtree", "parse"] {
            let settings = format!(r#"{{"mode":"{mode}"}}"#);
            // Fuel is deterministic: the same figure on any machine, under any load.
            let fuel = engine.evaluate(&policy, &documents, &settings).fuel_used;
            println!("documents/{size}/guest/{mode}: {fuel} fuel");
            group.bench_function(format!("{size}/guest/{mode}"), |b| {
                b.iter(|| {
                    let run = engine.evaluate(&policy, &documents, &settings);
                    assert_eq!(run.status, Status::Ok, "{:?}", run.reason);
                    black_box(run);
                });
            });
        }
        // The same work natively, for scale: the host serializing the document (its
        // half of `to-json ""`) and serde_json parsing it outside the sandbox.
        let value = documents[0].value().clone();
        group.bench_function(format!("{size}/native/serialize"), |b| {
            b.iter(|| serde_json::to_string(black_box(&value)).expect("serializes"));
        });
        group.bench_function(format!("{size}/native/parse"), |b| {
            b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&text)).expect("parses"));
        });
    }
    group.finish();
}

criterion_group!(benches, instantiate, evaluate, documents);
criterion_main!(benches);
