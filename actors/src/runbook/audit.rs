//! The remediation audit log (contracts §7): append-only, SHA-256 hash-chained, one JSON
//! record a line in `DATA/audit/audit.ndjson`, each fsynced before [`AuditLog::append`]
//! returns.
//!
//! A record is `{"seq","at","kind","actor","detail","prev_hash","hash"}`: `seq` counts from
//! 1, `at` is RFC 3339 UTC, `prev_hash` is the previous record's `hash` (64 zeros for the
//! first), and `hash` is the hex SHA-256 of the record's compact JSON without `hash` —
//! fields in the order above, object keys inside `detail` sorted.
//!
//! Crashes: an append is one `write` of the whole line then `fdatasync`, so a crash leaves
//! at most one torn last line. On open a torn tail is never silently accepted: its bytes
//! are moved to `audit.ndjson.torn-<offset>`, the file is cut back to the last whole
//! record, and the next record (kind `audit.torn_tail`) reports the cut (offset, length,
//! SHA-256 of the cut bytes). A broken link in the middle is reported by [`verify`]
//! (and on open, as an error log); appending continues from the last record.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use seawatch_model::time::rfc3339;

/// `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// 1, 2, 3, …
    pub seq: u64,
    /// RFC 3339 UTC.
    pub at: String,
    /// What happened: `policy.decision`, `execution.transition`, `execution.approval`, …
    pub kind: String,
    /// Who did it (a user name, or `seawatch`).
    pub actor: String,
    /// Everything about it (a decision carries its full input).
    pub detail: serde_json::Value,
    /// The previous record's `hash`.
    pub prev_hash: String,
    /// Hex SHA-256 of this record without `hash`.
    pub hash: String,
}

#[derive(Serialize)]
struct Unhashed<'a> {
    seq: u64,
    at: &'a str,
    kind: &'a str,
    actor: &'a str,
    detail: &'a serde_json::Value,
    prev_hash: &'a str,
}

/// `v` with every object's keys sorted (whatever serde_json's map order is).
fn canonical(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&m[k])))
                    .collect(),
            )
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

impl AuditRecord {
    /// The hash this record should carry.
    pub fn compute_hash(&self) -> String {
        let detail = canonical(&self.detail);
        let body = serde_json::to_vec(&Unhashed {
            seq: self.seq,
            at: &self.at,
            kind: &self.kind,
            actor: &self.actor,
            detail: &detail,
            prev_hash: &self.prev_hash,
        })
        .unwrap_or_default();
        hex(&Sha256::digest(&body))
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Why the audit log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file operation failed.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// The first place the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// 1-based line of the file.
    pub line: usize,
    /// The record's `seq`, if the line parsed.
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Whole records read.
    pub records: u64,
    /// The first broken link, if any.
    pub first_break: Option<Break>,
    /// Bytes after the last newline (a torn last line), if any.
    pub torn_tail_bytes: u64,
}

impl VerifyReport {
    /// The chain holds and nothing is torn.
    pub fn ok(&self) -> bool {
        self.first_break.is_none() && self.torn_tail_bytes == 0
    }
}

/// Checks the chain of an audit file: each line a record, `seq` counting from 1, each
/// `prev_hash` the previous `hash`, each `hash` right. Reports the first broken link.
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let io = |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io)?;
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    let mut report = VerifyReport {
        records: 0,
        first_break: None,
        torn_tail_bytes: (bytes.len() - whole) as u64,
    };
    let mut prev = GENESIS.to_string();
    // the whole lines, without the newline that ends the last one
    let body: &[u8] = if whole == 0 { &[] } else { &bytes[..whole - 1] };
    let lines = body
        .split(|b| *b == b'\n')
        .take(if whole == 0 { 0 } else { usize::MAX });
    for (i, line) in lines.enumerate() {
        let fail = |seq, reason: String| Break {
            line: i + 1,
            seq,
            reason,
        };
        let rec: AuditRecord = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => {
                report.first_break = Some(fail(None, format!("not a record: {e}")));
                return Ok(report);
            }
        };
        let want_seq = report.records + 1;
        let problem = if rec.seq != want_seq {
            Some(format!("seq {} where {want_seq} was expected", rec.seq))
        } else if rec.prev_hash != prev {
            Some(format!(
                "prev_hash {} is not the previous record's hash {prev}",
                rec.prev_hash
            ))
        } else if rec.compute_hash() != rec.hash {
            Some(format!(
                "hash {} does not match the record (recomputed {})",
                rec.hash,
                rec.compute_hash()
            ))
        } else {
            None
        };
        if let Some(reason) = problem {
            report.first_break = Some(fail(Some(rec.seq), reason));
            return Ok(report);
        }
        prev = rec.hash;
        report.records += 1;
    }
    Ok(report)
}

/// What opening the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Records already in the log.
    pub records: u64,
    /// A torn tail cut off (its length), reported as record `audit.torn_tail`.
    pub torn_tail_bytes: u64,
    /// A broken link found on open.
    pub first_break: Option<Break>,
}

/// The audit log of a node: the one appender of its file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    last_seq: u64,
    last_hash: String,
}

impl AuditLog {
    /// The file under `dir`.
    pub fn file_in(dir: &Path) -> PathBuf {
        dir.join("audit.ndjson")
    }

    /// Opens (or creates) `dir/audit.ndjson`, checks it, cuts a torn tail off (keeping
    /// its bytes beside the log and recording the cut), and positions for appending.
    pub fn open(dir: &Path, now_ms: i64) -> Result<(Self, OpenReport), AuditError> {
        let path = Self::file_in(dir);
        let io = |source| AuditError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let report = verify(&path)?;
        // the last whole record: where appending goes on
        let (mut last_seq, mut last_hash, mut whole_len) = (0, GENESIS.to_string(), 0u64);
        {
            let mut r = BufReader::new(&file);
            r.seek(SeekFrom::Start(0)).map_err(io)?;
            let mut line = String::new();
            let mut offset = 0u64;
            loop {
                line.clear();
                let n = r.read_line(&mut line).map_err(io)?;
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                offset += n as u64;
                if let Ok(rec) = serde_json::from_str::<AuditRecord>(&line) {
                    last_seq = rec.seq;
                    last_hash = rec.hash;
                }
                whole_len = offset;
            }
        }
        if let Some(b) = &report.first_break {
            tracing::error!(path = %path.display(), line = b.line, reason = %b.reason, "audit log chain is broken");
        }
        let mut log = Self {
            path: path.clone(),
            file: file.try_clone().map_err(io)?,
            last_seq,
            last_hash,
        };
        if report.torn_tail_bytes > 0 {
            let mut torn = Vec::new();
            file.seek(SeekFrom::Start(whole_len)).map_err(io)?;
            file.read_to_end(&mut torn).map_err(io)?;
            let keep = dir.join(format!("audit.ndjson.torn-{whole_len}"));
            std::fs::write(&keep, &torn)
                .and_then(|()| File::open(&keep)?.sync_all())
                .map_err(io)?;
            file.set_len(whole_len).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::error!(path = %path.display(), offset = whole_len, bytes = torn.len(), kept = %keep.display(), "audit log: torn last line cut off");
            log.append(
                now_ms,
                "audit.torn_tail",
                "seawatch",
                serde_json::json!({
                    "offset": whole_len,
                    "bytes": torn.len(),
                    "sha256": hex(&Sha256::digest(&torn)),
                    "kept_in": keep.file_name().map(|n| n.to_string_lossy().into_owned()),
                }),
            )?;
        }
        Ok((
            log,
            OpenReport {
                records: report.records,
                torn_tail_bytes: report.torn_tail_bytes,
                first_break: report.first_break,
            },
        ))
    }

    /// Appends one record and fsyncs it; returns it. An error means it is not durable
    /// (the caller must not go on as if it were).
    pub fn append(
        &mut self,
        now_ms: i64,
        kind: &str,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<AuditRecord, AuditError> {
        let mut rec = AuditRecord {
            seq: self.last_seq + 1,
            at: rfc3339(now_ms),
            kind: kind.to_string(),
            actor: actor.to_string(),
            detail: canonical(&detail),
            prev_hash: self.last_hash.clone(),
            hash: String::new(),
        };
        rec.hash = rec.compute_hash();
        let mut line = serde_json::to_vec(&rec).unwrap_or_default();
        line.push(b'\n');
        let io = |source| AuditError::Io {
            path: self.path.display().to_string(),
            source,
        };
        self.file.write_all(&line).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.last_seq = rec.seq;
        self.last_hash = rec.hash.clone();
        Ok(rec)
    }

    /// The last record's `seq` (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Records with `seq > since`, in order, at most `limit`.
    pub fn read_since(&self, since: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let io = |source| AuditError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let r = BufReader::new(File::open(&self.path).map_err(io)?);
        let mut out = Vec::new();
        for line in r.lines() {
            let line = line.map_err(io)?;
            let Ok(rec) = serde_json::from_str::<AuditRecord>(&line) else {
                continue;
            };
            if rec.seq > since {
                out.push(rec);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_741_932_000_000;

    fn fill(dir: &Path, n: usize) -> AuditLog {
        let (mut log, rep) = AuditLog::open(dir, T0).unwrap();
        assert_eq!(rep.records, 0);
        for i in 0..n {
            log.append(
                T0 + i as i64,
                "execution.transition",
                "alice",
                serde_json::json!({"id": format!("x-{i}"), "to": "executing", "b": [1, {"z": 1, "a": 2}]}),
            )
            .unwrap();
        }
        log
    }

    #[test]
    fn records_chain_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let log = fill(dir.path(), 5);
        let recs = log.read_since(0, 100).unwrap();
        assert_eq!(recs.len(), 5);
        assert_eq!(recs[0].prev_hash, GENESIS);
        for w in recs.windows(2) {
            assert_eq!(w[1].prev_hash, w[0].hash);
            assert_eq!(w[1].seq, w[0].seq + 1);
        }
        assert_eq!(recs[2].at, "2025-03-14T06:00:00.002Z");
        // the hash is of the record's JSON without `hash`, fields in contract order
        let line = std::fs::read_to_string(log.path()).unwrap();
        let first = line.lines().next().unwrap();
        let cut = first.find(r#","hash":"#).unwrap();
        let unhashed = format!("{}}}", &first[..cut]);
        assert!(unhashed.starts_with(r#"{"seq":1,"at":"#), "{unhashed}");
        assert_eq!(hex(&Sha256::digest(unhashed.as_bytes())), recs[0].hash);
        assert_eq!(log.read_since(3, 100).unwrap()[0].seq, 4);
        assert_eq!(log.read_since(0, 2).unwrap().len(), 2);
        let rep = verify(log.path()).unwrap();
        assert!(rep.ok(), "{rep:?}");
        assert_eq!(rep.records, 5);
        // reopening continues the chain
        drop(log);
        let (mut log, rep) = AuditLog::open(dir.path(), T0).unwrap();
        assert_eq!((rep.records, rep.torn_tail_bytes), (5, 0));
        let r = log.append(T0, "k", "a", serde_json::json!({})).unwrap();
        assert_eq!((r.seq, r.prev_hash.as_str()), (6, recs[4].hash.as_str()));
        assert!(verify(log.path()).unwrap().ok());
    }

    #[test]
    fn the_verifier_reports_the_first_broken_link() {
        let dir = tempfile::tempdir().unwrap();
        let log = fill(dir.path(), 6);
        let path = log.path().to_path_buf();
        let good = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = good.lines().collect();
        let write = |ls: &[String]| std::fs::write(&path, ls.join("\n") + "\n").unwrap();
        let owned = || lines.iter().map(|s| s.to_string()).collect::<Vec<_>>();

        // an edited detail: record 3's hash no longer matches
        let mut ls = owned();
        ls[2] = ls[2].replace("executing", "succeeded");
        write(&ls);
        let b = verify(&path).unwrap().first_break.unwrap();
        assert_eq!((b.line, b.seq), (3, Some(3)));
        assert!(b.reason.contains("does not match"), "{}", b.reason);

        // a deleted record: record 5 follows record 3
        let mut ls = owned();
        ls.remove(3);
        write(&ls);
        let b = verify(&path).unwrap().first_break.unwrap();
        assert_eq!((b.line, b.seq), (4, Some(5)));
        assert!(b.reason.contains("seq 5 where 4"), "{}", b.reason);

        // a re-hashed edit (the forger recomputes the hash): the next link breaks
        let mut ls = owned();
        let mut rec: AuditRecord = serde_json::from_str(&ls[1]).unwrap();
        rec.actor = "mallory".into();
        rec.hash = rec.compute_hash();
        ls[1] = serde_json::to_string(&rec).unwrap();
        write(&ls);
        let b = verify(&path).unwrap().first_break.unwrap();
        assert_eq!((b.line, b.seq), (3, Some(3)));
        assert!(b.reason.contains("prev_hash"), "{}", b.reason);

        // garbage
        let mut ls = owned();
        ls[0] = "{".into();
        write(&ls);
        let b = verify(&path).unwrap().first_break.unwrap();
        assert_eq!((b.line, b.seq), (1, None));
    }

    #[test]
    fn a_torn_last_line_is_cut_kept_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let log = fill(dir.path(), 3);
        let path = log.path().to_path_buf();
        drop(log);
        let whole = std::fs::metadata(&path).unwrap().len();
        // a crash in the middle of the fourth append
        let torn = br#"{"seq":4,"at":"2025-03-14T06:00:00.003Z","kind":"exec"#;
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(torn)
            .unwrap();
        let rep = verify(&path).unwrap();
        assert_eq!((rep.records, rep.torn_tail_bytes), (3, torn.len() as u64));
        assert!(!rep.ok());

        let (mut log, rep) = AuditLog::open(dir.path(), T0 + 10).unwrap();
        assert_eq!(rep.torn_tail_bytes, torn.len() as u64);
        let kept = dir.path().join(format!("audit.ndjson.torn-{whole}"));
        assert_eq!(std::fs::read(&kept).unwrap(), torn);
        let recs = log.read_since(3, 10).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].kind, "audit.torn_tail");
        assert_eq!(recs[0].detail["offset"], whole);
        assert_eq!(recs[0].detail["bytes"], torn.len());
        log.append(T0 + 11, "k", "a", serde_json::json!({}))
            .unwrap();
        let rep = verify(&path).unwrap();
        assert!(rep.ok(), "{rep:?}");
        assert_eq!(rep.records, 5);
    }

    /// A real kill -9: a child process appends in a loop and is killed; the log it leaves
    /// opens with at most a torn tail and a whole chain.
    #[test]
    fn survives_kill_9_of_the_appender() {
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        if std::env::var_os("SEAWATCH_AUDIT_CHILD").is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(exe)
            .args([
                "--exact",
                "runbook::audit::tests::append_forever_child",
                "--nocapture",
                "--include-ignored",
            ])
            .env("SEAWATCH_AUDIT_CHILD", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let path = AuditLog::file_in(dir.path());
        // wait until it has appended a few records, then kill it mid-stream
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) < 20_000 {
            assert!(std::time::Instant::now() < deadline, "child wrote nothing");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let before = verify(&path).unwrap();
        assert!(before.first_break.is_none(), "{before:?}");
        let (log, rep) = AuditLog::open(dir.path(), T0).unwrap();
        assert_eq!(rep.records, before.records);
        let after = verify(log.path()).unwrap();
        assert!(after.ok(), "{after:?}");
        assert!(after.records >= before.records);
    }

    /// The appender `survives_kill_9_of_the_appender` kills (runs only as its child).
    #[test]
    #[ignore = "a child process of survives_kill_9_of_the_appender"]
    fn append_forever_child() {
        let Some(dir) = std::env::var_os("SEAWATCH_AUDIT_CHILD") else {
            return;
        };
        let (mut log, _) = AuditLog::open(Path::new(&dir), T0).unwrap();
        let pad = "x".repeat(300);
        for i in 0.. {
            log.append(T0 + i, "k", "a", serde_json::json!({ "i": i, "pad": pad }))
                .unwrap();
        }
    }
}
