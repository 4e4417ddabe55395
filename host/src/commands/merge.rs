//! `preflight merge`: the JSON Lines outputs of the shards of one audit, combined
//! into the report a single run over the whole fleet gives (docs/audit.md).

use super::audit::{OutputArgs, Writer, outputs};
use crate::audit::{Header, Stream, TargetResult, read_stream};
use anyhow::{Result, bail};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The JSON Lines outputs of `preflight audit --shard K/N`, one per shard
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(args: Args) -> Result<u8> {
    let outputs = outputs(&args.out)?;
    let streams: Vec<Stream> = args
        .files
        .iter()
        .map(|path| read_stream(path))
        .collect::<Result<_>>()?;
    let header = merged_header(&streams)?;
    let ended_at = streams
        .iter()
        .map(|stream| stream.summary.ended_at.clone())
        .max()
        .unwrap_or_default();
    let mut targets: Vec<TargetResult> = streams
        .into_iter()
        .flat_map(|stream| stream.targets)
        .collect();
    // The order of a single run: by target id.
    targets.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(pair) = targets.windows(2).find(|pair| pair[0].id == pair[1].id) {
        bail!(
            "the target `{}` is in two of the files: were they written by the same audit?",
            pair[0].id
        );
    }
    let mut writer = Writer::new(outputs, &header, args.out.quiet)?;
    for target in targets {
        let text = crate::audit::target_line(&target);
        writer.target(target, &text)?;
    }
    let summary = writer.finish_at(&header, ended_at)?;
    if !args.out.quiet {
        let t = &summary.targets;
        eprintln!(
            "merged {} shards: {} environments, {} passed, {} failed, {} incomplete",
            args.files.len(),
            t.total,
            t.passed,
            t.failed,
            t.incomplete
        );
    }
    Ok(summary.exit_code)
}

/// The header of the whole run: the shards must come from the same audit (same tool,
/// policies, settings and threshold), be all of its N parts, each once.
fn merged_header(streams: &[Stream]) -> Result<Header> {
    let first = &streams[0];
    let Some(count) = first.header.shard.map(|shard| shard.count) else {
        bail!(
            "`{}` is not a shard's output (it was written without --shard): there is nothing to merge",
            first.path.display()
        );
    };
    let mut seen: Vec<Option<&PathBuf>> = vec![None; count as usize];
    for stream in streams {
        let header = &stream.header;
        let path = stream.path.display();
        let Some(shard) = header.shard else {
            bail!("`{path}` is not a shard's output (it was written without --shard)");
        };
        if shard.count != count {
            bail!(
                "`{path}` is shard {shard} but `{}` is one of {count}: all shards must split the fleet the same way",
                first.path.display()
            );
        }
        let same = |what: &str, equal: bool| -> Result<()> {
            if equal {
                Ok(())
            } else {
                bail!(
                    "`{path}` and `{}` were written with different {what}: they are not shards of one audit",
                    first.path.display()
                )
            }
        };
        same("preflight versions", header.tool == first.header.tool)?;
        same(
            "policies (names, versions or sha256)",
            header.policies == first.header.policies,
        )?;
        // The settings' content, not where the file was: jobs may check out elsewhere.
        same(
            "settings",
            header.settings.sha256 == first.header.settings.sha256
                && header.settings.policies == first.header.settings.policies,
        )?;
        same("--fail-on", header.fail_on == first.header.fail_on)?;
        same("--isolate", header.isolate == first.header.isolate)?;
        let slot = &mut seen[shard.index as usize - 1];
        if let Some(other) = slot {
            bail!("`{path}` and `{}` are both shard {shard}", other.display());
        }
        *slot = Some(&stream.path);
        if let Some(stray) = stream.targets.iter().find(|t| !shard.contains(&t.id)) {
            bail!(
                "`{path}`: the target `{}` does not belong to shard {shard}",
                stray.id
            );
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, path)| path.is_none())
        .map(|(index, _)| format!("{}/{count}", index + 1))
        .collect();
    if !missing.is_empty() {
        bail!(
            "shards missing: {} (give the outputs of all {count} shards)",
            missing.join(", ")
        );
    }
    Ok(Header {
        started_at: streams
            .iter()
            .map(|stream| stream.header.started_at.clone())
            .min()
            .unwrap_or_default(),
        shard: None,
        targets: streams.iter().map(|stream| stream.targets.len()).sum(),
        ..first.header.clone()
    })
}
