//! Reading a migrations directory for the up-to-date check without reading every file: a checksum
//! cache keyed on each file's size, times and inode, as git's index does for `git status`.
//!
//! An up-to-date `migrate` must know every file's checksum. Opening and reading a small file costs
//! about five system calls; stat-ing it relative to the open directory costs one. The cache (one
//! text file per migrations directory, under [`default_cache_dir`]) maps a file's stat to the
//! checksum of its contents, so an unchanged file is stat-ed, not read.
//!
//! Invariants:
//! - An entry is used only when size, mtime, ctime and inode all match. Any write to a file changes
//!   its ctime (which, unlike mtime, cannot be set back by `touch`), so an edit is never missed.
//! - An entry is written only for a file whose ctime was at least [`SETTLE`] older than the moment
//!   the scan began, so a second edit within the same timestamp tick as the first (the "racy git"
//!   problem) cannot hide behind a matching stat.
//! - The directory listing itself is reused only when the directory's own mtime and ctime match and
//!   settled before the cache was written: adding, removing or renaming a file changes them.
//! - Anything unexpected (no cache, unreadable or foreign cache, a stat that fails) means reading the
//!   files, exactly as without a cache. The cache can make a check faster, never different.
//! - The cache also keeps the source's digests ([`SourceDigests`]), written only beside a reusable
//!   listing; [`probe`] hands them out only when that listing and every file's stamp still match,
//!   that is, when building the source would give the very source they were computed from.

use super::source::{checksum, SourceDigests};
use crate::backend::Backend;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a file must have gone unchanged before its checksum is cached. Filesystems stamp times
/// from a clock that ticks every few milliseconds (seconds on some); a file changed within this
/// window of a scan is read every time until it settles.
pub const SETTLE: Duration = Duration::from_millis(200);
const SETTLE_NS: i64 = 200_000_000;

/// From how many files a scan reads them on two threads (a read is several system calls).
const PARALLEL_FROM: usize = 64;

/// From how many files a scan stats them on two threads (a thread costs about 50 stats).
const PARALLEL_STATS_FROM: usize = 256;

/// First line of a cache file: the format and the checksum algorithm it holds.
const HEADER: &str = "plinth-checksum-cache 2 sha256-lf";

/// Where the CLI keeps checksum caches: `$PLINTH_CACHE_DIR`, else `$XDG_CACHE_HOME/plinth`, else
/// `$HOME/.cache/plinth`. `PLINTH_CACHE_DIR=off` (or empty) turns the cache off.
pub fn default_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("PLINTH_CACHE_DIR") {
        Some(v) if v.is_empty() || v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(|v| PathBuf::from(v).join("plinth"))
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache").join("plinth"))
            }),
    }
}

/// What identifies a file's contents without reading them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
}

/// One file of the directory, read or recognised.
#[derive(Debug)]
pub(crate) struct ScannedFile {
    /// The file name (no directory).
    pub name: String,
    /// The contents (or why they could not be read), when the file was read.
    pub text: Option<Result<String, String>>,
    /// The checksum: from the cache, or computed from `text`.
    pub checksum: Option<String>,
    stamp: Option<Stamp>,
}

/// The result of a scan, kept until the source is known to be valid so the cache can be updated.
#[derive(Debug)]
pub(crate) struct Scan {
    /// The `.sql` files (dot-files excluded), sorted by name.
    pub files: Vec<ScannedFile>,
    dir_stamp: Option<Stamp>,
    cache_file: Option<PathBuf>,
    started_ns: i64,
    /// Whether the cache no longer describes the directory (a file was read, or the listing changed).
    stale: bool,
    canonical: String,
}

/// A cache file's contents (entries in name order, as written).
#[derive(Default)]
struct Cached {
    dir: Option<Stamp>,
    written_ns: i64,
    files: Vec<(String, Stamp, String)>,
}

/// The cache file for a directory (by its canonical path), and that path.
fn cache_file(dir: &Path, cache_dir: &Path) -> (PathBuf, String) {
    let canonical = std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string();
    let key = hex::encode(&Sha256::digest(canonical.as_bytes())[..10]);
    (cache_dir.join(format!("checksums-{key}.txt")), canonical)
}

/// The cached source digests for `dir`, when its listing and every file's stamp match the cache:
/// one `stat` per file, nothing read or parsed beyond the cache file. None when anything differs
/// or is missing (the caller then builds the source, which refreshes the cache).
pub(crate) fn probe(dir: &Path, cache_dir: &Path) -> Option<SourceDigests> {
    let (file, canonical) = cache_file(dir, cache_dir);
    let text = std::fs::read_to_string(file).ok()?;
    let mut lines = text.lines();
    let (dir_stamp, written_ns) = head(&mut lines, &canonical)?;
    let stats = stats::Dir::open(dir)?;
    if !listing_reusable(dir_stamp, stats.stamp(), written_ns) {
        return None;
    }
    let mut digests = Vec::new();
    let mut entries = Vec::new();
    for line in lines {
        if let Some(d) = line.strip_prefix("digest ") {
            digests.push(parse_digest(d)?);
            continue;
        }
        let (stamp, _, name) = parse_entry(line)?;
        entries.push((name, stamp));
    }
    let now = stat_all(Some(&stats), &entries, |e| e.0);
    let unchanged = entries.iter().zip(now).all(|(e, s)| s == Some(e.1));
    (unchanged && !digests.is_empty()).then_some(SourceDigests(digests))
}

/// The stamp of each item's file (None for a file that is gone or not regular, or without
/// `stats`). A stat is mostly the kernel's path lookup: large directories are stat-ed on two
/// threads.
fn stat_all<T: Sync>(
    stats: Option<&stats::Dir>,
    items: &[T],
    name: impl Fn(&T) -> &str + Sync,
) -> Vec<Option<Stamp>> {
    let Some(stats) = stats else {
        return vec![None; items.len()];
    };
    super::in_two_halves(items, PARALLEL_STATS_FROM, |part| {
        part.iter().map(|i| stats.stat(name(i))).collect()
    })
}

/// The lines after the header of a cache file for `canonical`: the directory's stamp (if the
/// listing may be reused) and when the cache was written. None for a foreign or damaged file.
fn head<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
    canonical: &str,
) -> Option<(Option<Stamp>, i64)> {
    if lines.next()? != HEADER || lines.next()? != canonical {
        return None;
    }
    let dir = lines.next()?.strip_prefix("dir ")?;
    let written = lines.next()?.strip_prefix("written ")?.parse().ok()?;
    Some((parse_stamp(&mut dir.split(' ')), written))
}

/// `SIZE MTIME CTIME INO CHECKSUM NAME` of a file's line: its stamp, checksum and name.
fn parse_entry(line: &str) -> Option<(Stamp, &str, &str)> {
    let mut words = line.splitn(6, ' ');
    let stamp = parse_stamp(&mut words)?;
    let (sum, name) = (words.next()?, words.next()?);
    (sum.len() == 64 && is_migration_name(name)).then_some((stamp, sum, name))
}

/// Whether a cached listing still describes the directory: its stamp unchanged, and settled
/// before the cache was written (see the module's invariants).
fn listing_reusable(cached: Option<Stamp>, now: Option<Stamp>, written_ns: i64) -> bool {
    match (cached, now) {
        (Some(c), Some(n)) => c == n && n.ctime_ns + SETTLE_NS <= written_ns,
        _ => false,
    }
}

/// `BACKEND KEY` of a `digest` line.
fn parse_digest(line: &str) -> Option<(Backend, String)> {
    let (backend, key) = line.split_once(' ')?;
    let key_ok = key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit());
    Some((Backend::parse(backend)?, key.to_string())).filter(|_| key_ok)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn is_migration_name(name: &str) -> bool {
    !name.starts_with('.') && name.ends_with(".sql")
}

/// A file's text, or why it cannot be used (the words the source reports).
pub(crate) fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read(path)
        .map_err(|e| format!("cannot read: {e}"))
        .and_then(|b| String::from_utf8(b).map_err(|_| "not valid UTF-8 text".to_string()))
}

impl Scan {
    /// List and checksum the directory's migration files, using and refreshing the cache in
    /// `cache_dir` when given. Fails only when the directory cannot be listed.
    pub fn run(dir: &Path, cache_dir: Option<&Path>) -> Result<Scan, std::io::Error> {
        let started_ns = now_ns();
        // Without a cache there is nothing to key, stat or save: list and read.
        let (cache_file, canonical) = match cache_dir.map(|d| cache_file(dir, d)) {
            Some((file, canonical)) => (Some(file), canonical),
            None => (None, String::new()),
        };
        let cached = cache_file
            .as_deref()
            .map(|f| load(f, &canonical))
            .unwrap_or_default();
        let stats = cache_file.as_ref().and_then(|_| stats::Dir::open(dir));
        let dir_stamp = stats.as_ref().and_then(stats::Dir::stamp);
        // The listing: reused when the directory has not changed since the cache was written.
        let reuse_listing = listing_reusable(cached.dir, dir_stamp, cached.written_ns);
        let mut files: Vec<ScannedFile> = if reuse_listing {
            // Names and entries straight from the cache, in its (name) order: no lookups.
            let stamps = stat_all(stats.as_ref(), &cached.files, |f| &f.0);
            cached
                .files
                .into_iter()
                .zip(stamps)
                .map(|((name, then, sum), stamp)| ScannedFile {
                    checksum: (stamp == Some(then)).then_some(sum),
                    name,
                    text: None,
                    stamp,
                })
                .collect()
        } else {
            let mut names = Vec::new();
            for entry in std::fs::read_dir(dir)? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if is_migration_name(&name) {
                    names.push(name);
                }
            }
            names.sort();
            let known: HashMap<String, (Stamp, String)> = cached
                .files
                .into_iter()
                .map(|(name, stamp, sum)| (name, (stamp, sum)))
                .collect();
            let stamps = stat_all(stats.as_ref(), &names, |n| n);
            names
                .into_iter()
                .zip(stamps)
                .map(|(name, stamp)| {
                    let checksum = match (stamp, known.get(&name)) {
                        (Some(now), Some((then, sum))) if now == *then => Some(sum.clone()),
                        _ => None,
                    };
                    ScannedFile {
                        name,
                        text: None,
                        checksum,
                        stamp,
                    }
                })
                .collect()
        };
        let mut stale = !reuse_listing;
        if reuse_listing && files.iter().any(|f| f.stamp.is_none()) {
            // A listed file vanished although the directory looks unchanged: trust nothing.
            return Scan::run(dir, None).map(|mut s| {
                s.cache_file = cache_file;
                s
            });
        }
        let misses: Vec<usize> = (0..files.len())
            .filter(|&i| files[i].checksum.is_none())
            .collect();
        if !misses.is_empty() {
            stale = true;
            read_all(dir, &mut files, &misses);
        }
        Ok(Scan {
            files,
            dir_stamp,
            cache_file,
            started_ns,
            stale,
            canonical,
        })
    }

    /// How many files were recognised from the cache rather than read.
    pub fn cache_hits(&self) -> usize {
        self.files.iter().filter(|f| f.text.is_none()).count()
    }

    /// Write the cache for a directory whose source turned out valid, with that source's `digests`
    /// when the listing can be reused. Best effort: a cache that cannot be written only means
    /// reading the files next time.
    pub fn save(&self, digests: impl FnOnce() -> SourceDigests) {
        let Some(file) = &self.cache_file else { return };
        if !self.stale {
            return;
        }
        let settled = |s: &Stamp| s.ctime_ns + SETTLE_NS <= self.started_ns;
        let mut entries = String::new();
        let mut complete = true;
        for f in &self.files {
            match (f.stamp.filter(settled), &f.checksum) {
                (Some(stamp), Some(sum)) => {
                    entries.push_str(&format!("{} {} {}\n", fmt_stamp(&stamp), sum, f.name))
                }
                _ => complete = false,
            }
        }
        let mut out = format!("{HEADER}\n{}\n", self.canonical);
        // The listing may be reused only when every file is in the cache.
        let listing = self.dir_stamp.filter(settled).filter(|_| complete);
        match listing {
            Some(d) => out.push_str(&format!("dir {}\n", fmt_stamp(&d))),
            None => out.push_str("dir -\n"),
        }
        out.push_str(&format!("written {}\n", self.started_ns));
        // Digests describe this exact listing: without a reusable one they could not be checked.
        if listing.is_some() {
            for (backend, key) in digests().0 {
                out.push_str(&format!("digest {backend} {key}\n"));
            }
        }
        out.push_str(&entries);
        let result = (|| {
            let parent = file.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(parent)?;
            let tmp = file.with_extension(format!("{}.tmp", std::process::id()));
            std::fs::write(&tmp, out)?;
            std::fs::rename(&tmp, file)
        })();
        match result {
            Ok(()) => tracing::debug!(cache = %file.display(), "checksum cache written"),
            Err(e) => {
                tracing::debug!(cache = %file.display(), error = %e, "checksum cache not written")
            }
        }
    }
}

/// Read the files at `misses` (two threads when there are many: each read is several system calls).
fn read_all(dir: &Path, files: &mut [ScannedFile], misses: &[usize]) {
    let read = |f: &ScannedFile| {
        let text = read_text(&dir.join(&f.name));
        let sum = text.as_ref().ok().map(|t| checksum(t));
        (text, sum)
    };
    let results: Vec<(Result<String, String>, Option<String>)> = if misses.len() < PARALLEL_FROM {
        misses.iter().map(|&i| read(&files[i])).collect()
    } else {
        let (first, second) = misses.split_at(misses.len() / 2);
        let shared: &[ScannedFile] = files;
        std::thread::scope(|s| {
            let other = s.spawn(|| second.iter().map(|&i| read(&shared[i])).collect::<Vec<_>>());
            let mut out: Vec<_> = first.iter().map(|&i| read(&shared[i])).collect();
            match other.join() {
                Ok(rest) => out.extend(rest),
                Err(_) => out.extend(second.iter().map(|&i| read(&shared[i]))),
            }
            out
        })
    };
    for (&i, (text, sum)) in misses.iter().zip(results) {
        files[i].text = Some(text);
        files[i].checksum = sum;
    }
}

fn fmt_stamp(s: &Stamp) -> String {
    format!("{} {} {} {}", s.size, s.mtime_ns, s.ctime_ns, s.ino)
}

fn parse_stamp<'a>(words: &mut impl Iterator<Item = &'a str>) -> Option<Stamp> {
    Some(Stamp {
        size: words.next()?.parse().ok()?,
        mtime_ns: words.next()?.parse().ok()?,
        ctime_ns: words.next()?.parse().ok()?,
        ino: words.next()?.parse().ok()?,
    })
}

/// Read a cache file; anything malformed or written for another directory reads as empty.
fn load(file: &Path, canonical: &str) -> Cached {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Cached::default();
    };
    let mut lines = text.lines();
    let Some((dir, written_ns)) = head(&mut lines, canonical) else {
        return Cached::default();
    };
    let mut cached = Cached {
        dir,
        written_ns,
        files: Vec::new(),
    };
    for line in lines.filter(|l| !l.starts_with("digest ")) {
        let Some((stamp, sum, name)) = parse_entry(line) else {
            return Cached::default();
        };
        cached
            .files
            .push((name.to_string(), stamp, sum.to_string()));
    }
    cached
}

#[cfg(unix)]
mod stats {
    //! `fstatat` relative to the open directory: one system call per file, no path walk.
    use super::Stamp;
    use rustix::fs::{AtFlags, Mode, OFlags};
    use std::os::fd::OwnedFd;
    use std::path::Path;

    pub struct Dir(OwnedFd);

    // The field types differ between platforms (32-bit times, inodes); the casts are for those.
    #[allow(clippy::unnecessary_cast)]
    fn stamp(s: &rustix::fs::Stat) -> Stamp {
        let ns = |secs: i64, nsec: i64| secs * 1_000_000_000 + nsec;
        Stamp {
            size: s.st_size as u64,
            mtime_ns: ns(s.st_mtime as i64, s.st_mtime_nsec as i64),
            ctime_ns: ns(s.st_ctime as i64, s.st_ctime_nsec as i64),
            ino: s.st_ino as u64,
        }
    }

    impl Dir {
        pub fn open(dir: &Path) -> Option<Dir> {
            rustix::fs::open(
                dir,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()
            .map(Dir)
        }

        pub fn stamp(&self) -> Option<Stamp> {
            rustix::fs::fstat(&self.0).ok().map(|s| stamp(&s))
        }

        /// The stamp of a regular file in this directory (None for anything else or on error).
        pub fn stat(&self, name: &str) -> Option<Stamp> {
            let s = rustix::fs::statat(&self.0, name, AtFlags::empty()).ok()?;
            (rustix::fs::FileType::from_raw_mode(s.st_mode) == rustix::fs::FileType::RegularFile)
                .then(|| stamp(&s))
        }
    }
}

#[cfg(not(unix))]
mod stats {
    //! Without `fstatat` and ctime there is no safe stamp: every file is read.
    use super::Stamp;
    use std::path::Path;

    pub struct Dir;

    impl Dir {
        pub fn open(_dir: &Path) -> Option<Dir> {
            None
        }
        pub fn stamp(&self) -> Option<Stamp> {
            None
        }
        pub fn stat(&self, _name: &str) -> Option<Stamp> {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::migrate::MigrationSource;
    use std::fs;

    fn settle() {
        std::thread::sleep(SETTLE + Duration::from_millis(50));
    }

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).expect("write");
    }

    /// Rewrite a file and put its modification time back, as `git checkout` or `touch -r` can.
    fn edit_keeping_mtime(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        let mtime = fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime");
        write(dir, name, text);
        fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(mtime))
            .expect("set mtime");
        assert_eq!(
            fs::metadata(&path).and_then(|m| m.modified()).ok(),
            Some(mtime)
        );
    }

    /// (file name, read or recognised, checksum) for each file of a scan.
    fn files(scan: &Scan) -> Vec<(String, bool, String)> {
        scan.files
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    f.text.is_some(),
                    f.checksum.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn unchanged_files_are_recognised_and_edits_are_not() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = tempfile::tempdir().expect("cache");
        let (d, c) = (dir.path(), Some(cache.path()));
        for i in 1..=20 {
            write(
                d,
                &format!("{i:04}_t{i}.sql"),
                &format!("CREATE TABLE t{i} (id INT);\n"),
            );
        }
        write(d, "README.md", "not a migration");
        write(d, ".0099_hidden.sql", "not a migration");
        settle();

        // First scan: everything read, cache written. Second: everything recognised.
        let first = Scan::run(d, c).expect("scan");
        assert_eq!((first.files.len(), first.cache_hits()), (20, 0));
        first.save(SourceDigests::default);
        let second = Scan::run(d, c).expect("scan");
        assert_eq!(second.cache_hits(), 20);
        let sums = |s: &Scan| files(s).into_iter().map(|f| (f.0, f.2)).collect::<Vec<_>>();
        assert_eq!(sums(&first), sums(&second));

        // An edit of the same length with the modification time put back is still seen: ctime moved.
        edit_keeping_mtime(d, "0007_t7.sql", "CREATE TABLE t8 (id INT);\n");
        let third = Scan::run(d, c).expect("scan");
        let seven = files(&third)
            .into_iter()
            .find(|f| f.0 == "0007_t7.sql")
            .expect("file");
        assert!(seven.1, "the edited file must be read");
        assert_eq!(seven.2, checksum("CREATE TABLE t8 (id INT);\n"));
        assert_eq!(third.cache_hits(), 19);
        third.save(SourceDigests::default);

        // Files added and removed are seen although the listing came from the cache before.
        settle();
        let fourth = Scan::run(d, c).expect("scan");
        fourth.save(SourceDigests::default);
        write(d, "0021_t21.sql", "CREATE TABLE t21 (id INT);\n");
        fs::remove_file(d.join("0003_t3.sql")).expect("remove");
        let fifth = Scan::run(d, c).expect("scan");
        let names: Vec<String> = fifth.files.iter().map(|f| f.name.clone()).collect();
        assert!(names.contains(&"0021_t21.sql".to_string()), "{names:?}");
        assert!(!names.contains(&"0003_t3.sql".to_string()), "{names:?}");
        assert_eq!(fifth.files.len(), 20);
    }

    #[test]
    fn the_probe_answers_only_for_the_directory_its_digests_were_computed_from() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = tempfile::tempdir().expect("cache");
        let (d, c) = (dir.path(), cache.path());
        // More files than PARALLEL_STATS_FROM, so both stat threads take part.
        for i in 1..=300 {
            let sql = format!("CREATE TABLE t{i} (id INT);\n");
            write(d, &format!("{i:04}_t{i}.sql"), &sql);
        }
        write(d, "0301_only_pg.postgres.sql", "CREATE TABLE p (id INT);\n");
        assert_eq!(probe(d, c), None, "no cache yet");
        // Fresh files: cached neither by name nor by digest.
        MigrationSource::from_dir_cached(d, Some(c)).expect("source");
        assert_eq!(probe(d, c), None, "files not settled yet");
        settle();
        let source = MigrationSource::from_dir_cached(d, Some(c)).expect("source");
        let digests = source.digests();
        assert_eq!(probe(d, c).as_ref(), Some(&digests));
        // Only PostgreSQL has a file for 0301: no digest for the others.
        assert!(digests.get(Backend::Postgres).is_some());
        assert_eq!(digests.get(Backend::Sqlite), None);

        // The same length, the modification time put back: the probe still sees the edit.
        edit_keeping_mtime(d, "0150_t150.sql", "CREATE TABLE t999 (id INT);\n");
        assert_eq!(probe(d, c), None, "edited file");
        settle();
        let edited = MigrationSource::from_dir_cached(d, Some(c)).expect("source");
        assert_ne!(edited.digests(), digests);
        assert_eq!(probe(d, c), Some(edited.digests()));

        // A file removed, then one added: the listing changed.
        fs::remove_file(d.join("0002_t2.sql")).expect("remove");
        assert_eq!(probe(d, c), None, "file removed");
        settle();
        MigrationSource::from_dir_cached(d, Some(c)).expect("source");
        assert!(probe(d, c).is_some());
        write(d, "0302_t302.sql", "CREATE TABLE t302 (id INT);\n");
        assert_eq!(probe(d, c), None, "file added");

        // A cache in the previous format (no digests) gives no answer.
        settle();
        MigrationSource::from_dir_cached(d, Some(c)).expect("source");
        let (file, _) = cache_file(d, c);
        let text = fs::read_to_string(&file).expect("cache");
        let old: String = text
            .replace(HEADER, "plinth-checksum-cache 1 sha256-lf")
            .lines()
            .filter(|l| !l.starts_with("digest "))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(&file, old).expect("write");
        assert_eq!(probe(d, c), None, "old format");
    }

    #[test]
    fn fresh_files_are_not_cached_until_they_settle() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = tempfile::tempdir().expect("cache");
        let (d, c) = (dir.path(), Some(cache.path()));
        write(d, "0001_a.sql", "SELECT 1;");
        let first = Scan::run(d, c).expect("scan");
        first.save(SourceDigests::default);
        // Written within SETTLE of the scan: a second edit in the same timestamp tick could hide
        // behind the same stat, so the file is read again.
        assert_eq!(Scan::run(d, c).expect("scan").cache_hits(), 0);
    }

    #[test]
    fn a_damaged_or_foreign_cache_is_ignored() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = tempfile::tempdir().expect("cache");
        let (d, c) = (dir.path(), Some(cache.path()));
        write(d, "0001_a.sql", "SELECT 1;");
        settle();
        let first = Scan::run(d, c).expect("scan");
        first.save(SourceDigests::default);
        let file = first.cache_file.clone().expect("cache file");
        let good = fs::read_to_string(&file).expect("cache");
        for bad in [
            good.replace(&checksum("SELECT 1;"), "zz"),
            good.replacen(HEADER, "plinth-checksum-cache 0", 1),
            good.replacen(&first.canonical, "/elsewhere", 1),
            good.replace("written ", "written x"),
            String::from_utf8_lossy(&[0xff, 0xfe]).into_owned(),
        ] {
            fs::write(&file, &bad).expect("write");
            let scan = Scan::run(d, c).expect("scan");
            assert_eq!(scan.cache_hits(), 0, "{bad}");
            assert_eq!(
                scan.files[0].checksum.as_deref(),
                Some(checksum("SELECT 1;").as_str())
            );
        }
    }

    #[test]
    fn a_source_read_through_the_cache_resolves_like_one_read_directly() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = tempfile::tempdir().expect("cache");
        let d = dir.path();
        for i in 1..=30 {
            let up = format!("-- plinth:requires postgres\r\nCREATE TABLE t{i} (id INT);\n");
            write(d, &format!("{i:04}_t{i}.up.sql"), &up);
            write(
                d,
                &format!("{i:04}_t{i}.down.sql"),
                &format!("DROP TABLE t{i};"),
            );
        }
        write(d, "0005_t5.sqlite.up.sql", "CREATE TABLE t5 (id INTEGER);");
        settle();
        let direct = MigrationSource::from_dir(d).expect("read");
        let _ = MigrationSource::from_dir_cached(d, Some(cache.path())).expect("fill");
        let cached = MigrationSource::from_dir_cached(d, Some(cache.path())).expect("read");
        for backend in [Backend::Postgres, Backend::Sqlite, Backend::MariaDb] {
            assert_eq!(cached.checksums(backend), direct.checksums(backend));
            let show = |s: &MigrationSource| {
                s.resolve(backend)
                    .expect("resolve")
                    .into_iter()
                    .map(|m| {
                        (
                            m.version,
                            m.origin.clone(),
                            m.checksum.clone(),
                            m.sql().map(str::to_string),
                            m.down,
                            m.directives,
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(show(&cached), show(&direct));
        }
    }
}
