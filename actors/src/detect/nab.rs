//! NAB corpus I/O: reading `timestamp,value` CSVs, writing results files
//! (`OUT/seawatch/<category>/seawatch_<name>.csv`), and scoring results against
//! `combined_windows.json` (shared/data/nab/README.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::score::{score_profile, FileScores, ProfileScore, PROFILES};
use super::{Ensemble, EnsembleConfig};

/// Detector name in results paths.
pub const DETECTOR: &str = "seawatch";

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` (also with `T`) into seconds since 1970 (UTC).
pub fn parse_timestamp(s: &str) -> Option<f64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = match s.get(19..) {
        Some(f) if f.starts_with('.') => format!("0{f}").parse::<f64>().ok()?,
        Some("") | None => 0.0,
        Some(_) => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3_600 + mi * 60 + se) as f64 + frac)
}

/// One NAB-format series: raw timestamp and value text as read, and parsed numbers.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Timestamp column as written in the file.
    pub stamps: Vec<String>,
    /// Value column as written in the file.
    pub values_text: Vec<String>,
    /// Timestamps in seconds.
    pub times: Vec<f64>,
    /// Values.
    pub values: Vec<f64>,
    /// `anomaly_score` column when present (results files).
    pub scores: Option<Vec<f64>>,
}

fn bad(path: &Path, line: usize, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}:{line}: {what}", path.display()),
    )
}

/// Reads a `timestamp,value[,anomaly_score,...]` CSV with a header row.
pub fn read_series(path: &Path) -> io::Result<Series> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| bad(path, 1, "empty file"))?
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let ti = col("timestamp").ok_or_else(|| bad(path, 1, "no timestamp column"))?;
    let vi = col("value").ok_or_else(|| bad(path, 1, "no value column"))?;
    let si = col("anomaly_score");
    let mut s = Series {
        scores: si.map(|_| Vec::new()),
        ..Series::default()
    };
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let get = |i: usize| {
            f.get(i)
                .map(|x| x.trim())
                .ok_or_else(|| bad(path, n + 2, "short row"))
        };
        let ts = get(ti)?;
        let v = get(vi)?;
        s.times
            .push(parse_timestamp(ts).ok_or_else(|| bad(path, n + 2, "bad timestamp"))?);
        s.values
            .push(v.parse().map_err(|_| bad(path, n + 2, "bad value"))?);
        s.stamps.push(ts.to_string());
        s.values_text.push(v.to_string());
        if let (Some(i), Some(sc)) = (si, s.scores.as_mut()) {
            let x: f64 = get(i)?
                .parse()
                .map_err(|_| bad(path, n + 2, "bad anomaly_score"))?;
            sc.push(x);
        }
    }
    Ok(s)
}

/// Every `*.csv` under `dir` (recursively), as paths relative to `dir`, sorted.
pub fn list_csv(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        for e in std::fs::read_dir(d)? {
            let p = e?.path();
            if p.is_dir() {
                walk(root, &p, out)?;
            } else if p.extension().is_some_and(|x| x == "csv") {
                if let Ok(rel) = p.strip_prefix(root) {
                    out.push(rel.to_path_buf());
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Runs one fresh ensemble over a series; one score per row (0 during warm-up).
pub fn score_series(cfg: &EnsembleConfig, s: &Series) -> Vec<f64> {
    let mut e = Ensemble::new(cfg.clone());
    s.times
        .iter()
        .zip(&s.values)
        .map(|(&t, &v)| e.update(t, v).score.unwrap_or(0.0))
        .collect()
}

/// `seawatch nab run`: scores every CSV under `data` and writes
/// `out/seawatch/<category>/seawatch_<name>.csv`. Returns the number of files written.
pub fn run_corpus(cfg: &EnsembleConfig, data: &Path, out: &Path) -> io::Result<usize> {
    let files = list_csv(data)?;
    let mut n = 0;
    for rel in files {
        let s = read_series(&data.join(&rel))?;
        let scores = score_series(cfg, &s);
        let name = rel
            .file_name()
            .map(|x| x.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = match rel.parent() {
            Some(p) => out.join(DETECTOR).join(p),
            None => out.join(DETECTOR),
        };
        std::fs::create_dir_all(&dir)?;
        let mut text = String::with_capacity(s.stamps.len() * 40);
        text.push_str("timestamp,value,anomaly_score\n");
        for ((ts, v), sc) in s.stamps.iter().zip(&s.values_text).zip(&scores) {
            let _ = writeln!(text, "{ts},{v},{sc}");
        }
        let path = dir.join(format!("{DETECTOR}_{name}"));
        let tmp = path.with_extension("csv.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)?;
        n += 1;
    }
    Ok(n)
}

/// Labelled windows: `"<category>/<name>.csv"` to `[(start, end)]` in seconds.
pub fn read_windows(path: &Path) -> io::Result<BTreeMap<String, Vec<(f64, f64)>>> {
    let text = std::fs::read_to_string(path)?;
    let raw: BTreeMap<String, Vec<Vec<String>>> = serde_json::from_str(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })?;
    let mut out = BTreeMap::new();
    for (k, ws) in raw {
        let mut v = Vec::new();
        for w in ws {
            let (Some(a), Some(b)) = (
                w.first().and_then(|x| parse_timestamp(x)),
                w.get(1).and_then(|x| parse_timestamp(x)),
            ) else {
                return Err(bad(path, 0, &format!("bad window in {k}")));
            };
            v.push((a, b));
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// Maps windows in seconds onto inclusive row ranges of a series.
pub fn window_rows(times: &[f64], windows: &[(f64, f64)]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for &(a, b) in windows {
        let l = times.partition_point(|&t| t < a);
        let r = times.partition_point(|&t| t <= b);
        if r > l {
            out.push((l, r - 1));
        }
    }
    out
}

/// The corpus score: one entry per profile, plus the files scored.
#[derive(Debug, Clone)]
pub struct CorpusScore {
    /// Files scored (`<category>/<name>.csv`).
    pub files: Vec<String>,
    /// Results files without labels (skipped).
    pub unlabelled: Vec<String>,
    /// Per profile.
    pub profiles: Vec<ProfileScore>,
}

/// `seawatch nab score`: reads results files under `results` (either `OUT` or
/// `OUT/<detector>`) named `<detector>_<name>.csv` in category folders, and scores them
/// against `labels` (combined_windows.json).
pub fn score_corpus(results: &Path, labels: &Path) -> io::Result<CorpusScore> {
    let windows = read_windows(labels)?;
    let mut files = Vec::new();
    let mut unlabelled = Vec::new();
    let mut inputs = Vec::new();
    for rel in list_csv(results)? {
        let comps: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if comps.len() < 2 {
            continue;
        }
        let cat = &comps[comps.len() - 2];
        let file = &comps[comps.len() - 1];
        let det = if comps.len() >= 3 {
            comps[comps.len() - 3].clone()
        } else {
            results
                .file_name()
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let name = file.strip_prefix(&format!("{det}_")).unwrap_or(file);
        let key = format!("{cat}/{name}");
        let Some(ws) = windows.get(&key) else {
            unlabelled.push(key);
            continue;
        };
        let s = read_series(&results.join(&rel))?;
        let Some(scores) = s.scores else {
            return Err(bad(&results.join(&rel), 1, "no anomaly_score column"));
        };
        inputs.push(FileScores {
            windows: window_rows(&s.times, ws),
            scores,
        });
        files.push(key);
    }
    let profiles = PROFILES.iter().map(|p| score_profile(&inputs, p)).collect();
    Ok(CorpusScore {
        files,
        unlabelled,
        profiles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0.0));
        assert_eq!(parse_timestamp("1970-01-02 00:00:01"), Some(86_401.0));
        // 2014-04-10 07:15:00 = 1397114100 (date -u -d ... +%s).
        assert_eq!(
            parse_timestamp("2014-04-10 07:15:00.000000"),
            Some(1_397_114_100.0)
        );
        assert_eq!(
            parse_timestamp("2000-03-01 00:00:00.5"),
            Some(951_868_800.5)
        );
        assert_eq!(parse_timestamp("garbage"), None);
    }

    #[test]
    fn windows_to_rows() {
        let t = [0.0, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(window_rows(&t, &[(10.0, 30.0)]), vec![(1, 3)]);
        assert_eq!(window_rows(&t, &[(5.0, 12.0), (50.0, 60.0)]), vec![(1, 1)]);
    }

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/nab");

    /// A few real NAB files through the runner and the scorer (skipped without the data,
    /// except under CI=true).
    #[test]
    fn runs_and_scores_real_files() {
        let data = Path::new(DATA);
        let src = data.join("realKnownCause/ambient_temperature_system_failure.csv");
        if !src.exists() {
            // CI lays shared/ beside the checkout: there a missing corpus is a failure
            assert!(
                std::env::var_os("CI").is_none(),
                "{} not found (CI=true needs ../shared/data/nab beside the checkout)",
                src.display()
            );
            eprintln!("skipping: {} not found", src.display());
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in/realKnownCause");
        std::fs::create_dir_all(&input).unwrap();
        std::fs::copy(&src, input.join("ambient_temperature_system_failure.csv")).unwrap();
        let out = tmp.path().join("out");
        let cfg = EnsembleConfig::default();
        assert_eq!(run_corpus(&cfg, &tmp.path().join("in"), &out).unwrap(), 1);
        let res =
            out.join("seawatch/realKnownCause/seawatch_ambient_temperature_system_failure.csv");
        let s = read_series(&res).unwrap();
        let orig = read_series(&src).unwrap();
        assert_eq!(s.stamps, orig.stamps);
        assert_eq!(s.values_text, orig.values_text);
        let sc = s.scores.unwrap();
        assert!(sc.iter().all(|x| (0.0..=1.0).contains(x)));
        let c = score_corpus(&out, &data.join("combined_windows.json")).unwrap();
        assert_eq!(
            c.files,
            vec!["realKnownCause/ambient_temperature_system_failure.csv"]
        );
        for p in &c.profiles {
            assert!(p.perfect > 0.0);
            assert!(p.detector.raw >= p.null - 1e-9 || p.normalized <= 0.0);
        }
    }
}
