//! `preflight policy pull`: fetches a published policy component into the local
//! content-addressed store, pinned by its sha256, and records it in the lockfile.
//!
//! The store is `<cache dir>/store/sha256/<hex>.wasm` (`PREFLIGHT_CACHE_DIR/store`
//! when that is set). A file is only ever stored under the digest of its bytes, and
//! a download whose digest is not the pinned one is refused before anything is
//! written. `--policy URL#sha256=HEX` (in `check`, `rules`, `policy inspect`) takes
//! the component from the store and pulls it only when it is not there yet, so a
//! later run needs no network; `--policy URL` alone takes the digest from the
//! lockfile `preflight.lock` in the current directory.

use super::{PolicyArgs, write_bytes};
use crate::engine::human_duration;
use crate::model::PolicySource;
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The lockfile's default name, in the current directory.
pub const LOCKFILE: &str = "preflight.lock";

/// The lockfile format this host writes and reads.
const LOCKFILE_VERSION: u32 = 1;

/// How many redirects a download follows.
const MAX_REDIRECTS: usize = 5;

/// The largest component a download accepts (a JavaScript policy is about 12 MiB).
const MAX_BYTES: u64 = 128 << 20;

/// Seconds a download may take in all, unless `--timeout` or the variable says otherwise.
const DEFAULT_TIMEOUT_SECONDS: f64 = 60.0;

/// The variable that sets the download timeout, also for pulls made by `check`.
const TIMEOUT_ENV: &str = "PREFLIGHT_PULL_TIMEOUT";

const EXAMPLES: &str = "\
Examples:
  preflight policy pull https://example.com/naming-1.2.0.wasm --sha256 3f6c...e1
  preflight check --env env.json --policy 'https://example.com/naming-1.2.0.wasm#sha256=3f6c...e1'
  preflight check --env env.json --policy https://example.com/naming-1.2.0.wasm   # pinned in preflight.lock";

#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Where the component is published (`https://` or `http://`; a `#sha256=HEX`
    /// fragment may stand in for --sha256)
    pub url: String,

    /// The component's sha256 (64 hex digits), as its publisher gave it; a download
    /// with any other digest is refused and nothing is stored
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,

    /// The lockfile to record the pull in
    #[arg(long, value_name = "FILE", default_value = LOCKFILE)]
    pub lockfile: PathBuf,

    /// Seconds the download may take in all: connecting, redirects and the body
    #[arg(long, value_name = "SECONDS", env = TIMEOUT_ENV, default_value_t = DEFAULT_TIMEOUT_SECONDS)]
    pub timeout: f64,
}

pub fn run(args: Args) -> Result<u8> {
    let reference = Reference::parse(&args.url)?;
    let sha256 = match (&args.sha256, &reference.sha256) {
        (Some(flag), Some(fragment)) => {
            let flag = parse_digest(flag)?;
            if &flag != fragment {
                bail!(
                    "--sha256 `{flag}` and the URL's `#sha256={fragment}` disagree; give one of them"
                );
            }
            flag
        }
        (Some(flag), None) => parse_digest(flag)?,
        (None, Some(fragment)) => fragment.clone(),
        (None, None) => bail!(
            "give the component's digest with --sha256 (its publisher lists it); \
             preflight only pulls pinned components"
        ),
    };
    let timeout = timeout(args.timeout)?;
    let store = Store::open()?;
    let url = &reference.url;

    let mut lock = Lockfile::load(&args.lockfile)?;
    // Pulled before, from this URL, with this digest: no need to ask the server again.
    // Otherwise download, even when the store has the bytes: a lockfile entry says
    // that this URL serves them.
    let locked = lock.find(url).is_some_and(|entry| entry.sha256 == sha256);
    let (bytes, fresh) = match store.read(&sha256) {
        Some(bytes) if locked => (bytes, false),
        _ => {
            let bytes = download(url, timeout)?;
            verify(url, &bytes, &sha256)?;
            (bytes, true)
        }
    };
    // Only a component the host can load is stored. Loading it also compiles it
    // into the compile cache, so the first `check` that uses it starts fast.
    let engine = PolicyArgs::defaults().engine()?;
    let policy = engine
        .load(
            PolicySource::File(PathBuf::from(url)),
            &bytes,
            Some(&sha256),
        )
        .map_err(|err| anyhow!("`{url}` {err}; nothing was stored"))?;
    let path = if fresh {
        store.put(&sha256, &bytes)?
    } else {
        store.path(&sha256)
    };

    lock.record(LockedPolicy {
        url: url.clone(),
        sha256: sha256.clone(),
        size: bytes.len() as u64,
        pulled_at: match lock.find(url) {
            Some(entry) if !fresh => entry.pulled_at.clone(),
            _ => rfc3339(SystemTime::now()),
        },
        name: Some(policy.info.name.clone()),
        version: Some(policy.info.version.clone()),
    });
    lock.save(&args.lockfile)?;

    let text = format!(
        "{} `{url}`\n  policy   {} {}\n  sha256   {sha256}\n  size     {} bytes\n  stored   {}\n  locked   {}\n",
        if fresh { "pulled" } else { "already pulled" },
        policy.info.name,
        policy.info.version,
        bytes.len(),
        path.display(),
        args.lockfile.display()
    );
    super::write_output(None, &text)?;
    Ok(0)
}

/// Whether a `--policy` value names a published component rather than a file.
pub fn is_url(text: &str) -> bool {
    text.starts_with("https://") || text.starts_with("http://")
}

/// The local file of a published policy (`URL#sha256=HEX`, or `URL` pinned in
/// `./preflight.lock`): from the store, pulled into it first when it is not there.
pub fn resolve(text: &str) -> Result<PathBuf> {
    let reference = Reference::parse(text)?;
    let url = &reference.url;
    let sha256 = match reference.sha256 {
        Some(sha256) => sha256,
        None => {
            let lockfile = Path::new(LOCKFILE);
            let lock = Lockfile::load(lockfile)?;
            match lock.find(url) {
                Some(entry) => parse_digest(&entry.sha256)
                    .with_context(|| format!("`{}`: the entry for `{url}`", lockfile.display()))?,
                None => bail!(
                    "the policy `{url}` is not pinned: add `#sha256=<digest>` to it, or run \
                     `preflight policy pull {url} --sha256 <digest>` to record it in `{LOCKFILE}`"
                ),
            }
        }
    };
    let store = Store::open()?;
    if store.read(&sha256).is_some() {
        return Ok(store.path(&sha256));
    }
    let timeout = match std::env::var(TIMEOUT_ENV) {
        Ok(text) => timeout(
            text.trim()
                .parse()
                .map_err(|_| anyhow!("{TIMEOUT_ENV} is `{text}`, not a number of seconds"))?,
        )?,
        Err(_) => timeout(DEFAULT_TIMEOUT_SECONDS)?,
    };
    eprintln!("pulling `{url}` into the policy store");
    let bytes = download(url, timeout)?;
    verify(url, &bytes, &sha256)?;
    store.put(&sha256, &bytes)
}

/// `URL` with an optional `#sha256=HEX` pin.
#[derive(Debug, PartialEq, Eq)]
struct Reference {
    url: String,
    sha256: Option<String>,
}

impl Reference {
    fn parse(text: &str) -> Result<Reference> {
        if !is_url(text) {
            bail!("`{text}` is not an `https://` or `http://` URL");
        }
        let Some((url, fragment)) = text.split_once('#') else {
            return Ok(Reference {
                url: text.to_owned(),
                sha256: None,
            });
        };
        let Some(hex) = fragment.strip_prefix("sha256=") else {
            bail!(
                "the policy URL `{text}` ends with `#{fragment}`; pin a digest as \
                 `#sha256=<64 hex digits>`"
            );
        };
        Ok(Reference {
            url: url.to_owned(),
            sha256: Some(parse_digest(hex)?),
        })
    }
}

/// A sha256 as 64 lowercase hex digits.
fn parse_digest(text: &str) -> Result<String> {
    let hex = text.trim().to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("`{text}` is not a sha256 digest (64 hex digits)");
    }
    Ok(hex)
}

fn timeout(seconds: f64) -> Result<Duration> {
    if !(seconds.is_finite() && seconds > 0.0) {
        bail!("the download timeout must be a positive number of seconds");
    }
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| anyhow!("the download timeout {seconds} is too large"))
}

/// Refuses bytes whose digest is not the pinned one.
fn verify(url: &str, bytes: &[u8], sha256: &str) -> Result<()> {
    let actual = hex::encode(Sha256::digest(bytes));
    if actual != sha256 {
        bail!(
            "the download of `{url}` has sha256 `{actual}`, not the pinned `{sha256}`: nothing \
             was stored; if the publisher released a new version on purpose, check it and pin \
             its digest"
        );
    }
    Ok(())
}

/// Uses the `ring` provider for TLS (reqwest is built without one of its own).
fn install_crypto_provider() {
    // `Err` means a provider is installed already, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Downloads `url`, following at most [`MAX_REDIRECTS`] redirects, within `timeout`.
fn download(url: &str, timeout: Duration) -> Result<Vec<u8>> {
    install_crypto_provider();
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(15)))
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent(concat!("preflight/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("starting the HTTP client")?;
    let response = client
        .get(url)
        .send()
        .map_err(|err| download_error(url, &err, timeout))?;
    let status = response.status();
    if !status.is_success() {
        let at = response.url().as_str();
        let place = if at == url {
            String::new()
        } else {
            format!(" (redirected to `{at}`)")
        };
        bail!("cannot download `{url}`{place}: the server answered {status}");
    }
    if response.content_length().is_some_and(|len| len > MAX_BYTES) {
        bail!(
            "cannot download `{url}`: it is larger than the limit of {} MiB",
            MAX_BYTES >> 20
        );
    }
    let mut bytes = Vec::new();
    response
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| {
            let timed_out = err.kind() == std::io::ErrorKind::TimedOut
                || err
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
                    .is_some_and(reqwest::Error::is_timeout);
            if timed_out {
                timed_out_error(url, timeout)
            } else {
                anyhow!("cannot download `{url}`: the connection broke: {err}")
            }
        })?;
    if bytes.len() as u64 > MAX_BYTES {
        bail!(
            "cannot download `{url}`: it is larger than the limit of {} MiB",
            MAX_BYTES >> 20
        );
    }
    Ok(bytes)
}

fn timed_out_error(url: &str, timeout: Duration) -> anyhow::Error {
    anyhow!(
        "cannot download `{url}`: no complete answer within {} (raise it with --timeout or \
         {TIMEOUT_ENV})",
        human_duration(timeout)
    )
}

fn download_error(url: &str, err: &reqwest::Error, timeout: Duration) -> anyhow::Error {
    if err.is_timeout() {
        return timed_out_error(url, timeout);
    }
    if err.is_redirect() {
        return anyhow!("cannot download `{url}`: more than {MAX_REDIRECTS} redirects");
    }
    // reqwest's own text repeats the URL; its innermost cause says what happened.
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if err.is_connect() {
        anyhow!("cannot download `{url}`: cannot connect: {cause}")
    } else {
        anyhow!("cannot download `{url}`: {cause}")
    }
}

/// The content-addressed store of pulled components.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// `PREFLIGHT_CACHE_DIR/store`, else the platform's cache dir + `preflight/store`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("PREFLIGHT_CACHE_DIR") {
            return Some(PathBuf::from(dir).join("store"));
        }
        dirs::cache_dir().map(|dir| dir.join("preflight").join("store"))
    }

    pub fn open() -> Result<Store> {
        let dir = Store::default_dir()
            .context("there is no cache directory for the policy store: set PREFLIGHT_CACHE_DIR")?;
        Ok(Store { dir })
    }

    /// Where the component with this digest is (or would be) stored.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join("sha256").join(format!("{sha256}.wasm"))
    }

    /// The stored bytes, when they are there and still have their digest. A file
    /// that does not (damaged on disk) is removed, so it is pulled again.
    pub fn read(&self, sha256: &str) -> Option<Vec<u8>> {
        let path = self.path(sha256);
        let bytes = std::fs::read(&path).ok()?;
        if hex::encode(Sha256::digest(&bytes)) == sha256 {
            return Some(bytes);
        }
        eprintln!(
            "warning: `{}` does not have the digest it is stored under; pulling it again",
            path.display()
        );
        let _ = std::fs::remove_file(&path);
        None
    }

    /// Stores verified bytes (atomically: a reader never sees half a file).
    pub fn put(&self, sha256: &str, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.path(sha256);
        write_bytes(&path, bytes)
            .with_context(|| format!("storing the policy in `{}`", self.dir.display()))?;
        Ok(path)
    }
}

/// `preflight.lock`: which published policies this project uses, pinned.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Lockfile {
    version: u32,
    policies: Vec<LockedPolicy>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LockedPolicy {
    url: String,
    sha256: String,
    size: u64,
    /// When it was pulled (RFC 3339, UTC).
    pulled_at: String,
    /// The policy's name and version, as it said when it was pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
}

impl Lockfile {
    /// The lockfile at `path`; an empty one when there is no file.
    fn load(path: &Path) -> Result<Lockfile> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Lockfile {
                    version: LOCKFILE_VERSION,
                    policies: Vec::new(),
                });
            }
            Err(err) => return Err(anyhow!("cannot read `{}`: {err}", path.display())),
        };
        let lock: Lockfile = serde_json::from_str(&text).map_err(|err| {
            anyhow!(
                "`{}` is not a valid lockfile (line {}, column {}): {err}",
                path.display(),
                err.line(),
                err.column()
            )
        })?;
        if lock.version != LOCKFILE_VERSION {
            bail!(
                "`{}` has lockfile version {}; this preflight reads version {LOCKFILE_VERSION}",
                path.display(),
                lock.version
            );
        }
        Ok(lock)
    }

    fn find(&self, url: &str) -> Option<&LockedPolicy> {
        self.policies.iter().find(|entry| entry.url == url)
    }

    /// Adds the entry, replacing the one for the same URL; entries stay sorted by URL.
    fn record(&mut self, entry: LockedPolicy) {
        self.policies.retain(|known| known.url != entry.url);
        self.policies.push(entry);
        self.policies.sort_by(|a, b| a.url.cmp(&b.url));
    }

    fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        write_bytes(path, text.as_bytes())
    }
}

/// A time as RFC 3339 in UTC, to the second.
fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_723);
        assert_eq!(rfc3339(leap_day), "2000-02-29T01:02:03Z");
        let new_year = UNIX_EPOCH + Duration::from_secs(1_704_067_200 - 1);
        assert_eq!(rfc3339(new_year), "2023-12-31T23:59:59Z");
    }

    #[test]
    fn references_pin_a_digest_or_none() {
        let hex = "AB".repeat(32);
        assert_eq!(
            Reference::parse(&format!("https://x.test/p.wasm#sha256={hex}")).unwrap(),
            Reference {
                url: "https://x.test/p.wasm".into(),
                sha256: Some(hex.to_ascii_lowercase()),
            }
        );
        assert_eq!(
            Reference::parse("http://x.test/p.wasm").unwrap().sha256,
            None
        );
        let err = Reference::parse("https://x.test/p.wasm#md5=00").unwrap_err();
        assert!(err.to_string().contains("#sha256=<64 hex digits>"), "{err}");
        let err = Reference::parse("https://x.test/p.wasm#sha256=abc").unwrap_err();
        assert!(err.to_string().contains("not a sha256 digest"), "{err}");
        assert!(Reference::parse("ftp://x.test/p.wasm").is_err());
    }

    #[test]
    fn the_lockfile_keeps_one_entry_per_url_sorted() {
        let entry = |url: &str, sha: &str| LockedPolicy {
            url: url.into(),
            sha256: sha.into(),
            size: 1,
            pulled_at: "2026-01-01T00:00:00Z".into(),
            name: None,
            version: None,
        };
        let mut lock = Lockfile::default();
        lock.record(entry("https://b.test/p.wasm", "1"));
        lock.record(entry("https://a.test/p.wasm", "2"));
        lock.record(entry("https://b.test/p.wasm", "3"));
        let urls: Vec<(&str, &str)> = lock
            .policies
            .iter()
            .map(|e| (e.url.as_str(), e.sha256.as_str()))
            .collect();
        assert_eq!(
            urls,
            [
                ("https://a.test/p.wasm", "2"),
                ("https://b.test/p.wasm", "3")
            ]
        );
    }
}
