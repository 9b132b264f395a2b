//! Runs the default ensemble over a NAB folder in-process and prints the three profile
//! scores: `cargo run --release -p seawatch-actors --example nab_eval -- DATA_DIR`.

use std::path::Path;

use seawatch_actors::detect::nab::{
    list_csv, read_series, read_windows, score_series, window_rows,
};
use seawatch_actors::detect::score::{score_profile, FileScores, PROFILES};
use seawatch_actors::detect::EnsembleConfig;

mod knobs;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/nab".into());
    let dir = Path::new(&dir);
    let windows = read_windows(&dir.join("combined_windows.json")).expect("labels");
    let cfg = knobs::ensemble_from_env(EnsembleConfig::default());
    // Hold-out: CATS=a,b keeps only those categories (prefix match on the key).
    let cats: Option<Vec<String>> = std::env::var("CATS")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    let mut rows = 0usize;
    let mut busy = std::time::Duration::ZERO;
    let mut files = Vec::new();
    let mut keys = Vec::new();
    let mut chans: Vec<Vec<u8>> = Vec::new();
    for rel in list_csv(dir).expect("data") {
        let key = rel.to_string_lossy().replace('\\', "/");
        let Some(ws) = windows.get(&key) else {
            continue;
        };
        if let Some(c) = &cats {
            if !c.iter().any(|c| key.starts_with(c.as_str())) {
                continue;
            }
        }
        let s = read_series(&dir.join(&rel)).expect("csv");
        let t0 = std::time::Instant::now();
        let scores = score_series(&cfg, &s);
        busy += t0.elapsed();
        if std::env::var_os("DIAGROWS").is_some() {
            // The channel that set each row's score (diagnostic re-run).
            let mut e = seawatch_actors::detect::Ensemble::new(cfg.clone());
            let ch: Vec<u8> = s
                .times
                .iter()
                .zip(&s.values)
                .map(|(&t, &v)| {
                    e.update(t, v);
                    e.last_channel()
                })
                .collect();
            chans.push(ch);
        }
        rows += scores.len();
        let f = FileScores {
            scores,
            windows: window_rows(&s.times, ws),
        };
        if std::env::var_os("NAB_PER_FILE").is_some() {
            let p = score_profile(std::slice::from_ref(&f), &PROFILES[0]);
            println!("{key:70} {:8.2} {:7.3}", p.normalized, p.detector.raw);
        }
        files.push(f);
        keys.push(key);
    }
    if let Ok(th) = std::env::var("DIAG") {
        let th: f64 = th.parse().expect("DIAG threshold");
        let mut tot = (0.0, 0.0, 0usize);
        for (fi, (key, f)) in keys.iter().zip(&files).enumerate() {
            let start = seawatch_actors::detect::score::probation(f.scores.len());
            let det: Vec<usize> = (start..f.scores.len())
                .filter(|&i| f.scores[i] >= th)
                .collect();
            let hit = f
                .windows
                .iter()
                .filter(|&&(a, b)| det.iter().any(|&i| i >= a && i <= b))
                .count();
            let fp = det
                .iter()
                .filter(|&&i| !f.windows.iter().any(|&(a, b)| i >= a && i <= b))
                .count();
            // NAB weights (standard profile): earliest detection per window, and every
            // detection outside the windows (discounted just after a window).
            use seawatch_actors::detect::score::scaled_sigmoid;
            let max_tp = scaled_sigmoid(-1.0);
            let mut tp = 0.0;
            for &(a, b) in &f.windows {
                if let Some(&i) = det.iter().find(|&&i| i >= a && i <= b) {
                    tp += scaled_sigmoid(-((b - i + 1) as f64) / (b - a + 1) as f64) / max_tp;
                }
            }
            let mut fpc = 0.0;
            for &i in &det {
                if f.windows.iter().any(|&(a, b)| i >= a && i <= b) {
                    continue;
                }
                let prev = f.windows.iter().rfind(|&&(_, b)| b < i);
                fpc += 0.11
                    * match prev {
                        None => -1.0,
                        Some(&(a, b)) => scaled_sigmoid((i - b) as f64 / (b - a) as f64),
                    };
            }
            if std::env::var_os("DIAGROWS").is_some() {
                let fps: Vec<String> = det
                    .iter()
                    .filter(|&&i| !f.windows.iter().any(|&(a, b)| i >= a && i <= b))
                    .map(|&i| format!("{i}:{}", chans[fi][i]))
                    .collect();
                let tps: Vec<String> = f
                    .windows
                    .iter()
                    .filter_map(|&(a, b)| det.iter().find(|&&i| i >= a && i <= b))
                    .map(|&i| format!("{i}:{}", chans[fi][i]))
                    .collect();
                let maxes: Vec<String> = f
                    .windows
                    .iter()
                    .map(|&(a, b)| {
                        let m = f.scores[a.max(start)..=b.min(f.scores.len() - 1)]
                            .iter()
                            .fold(0.0f64, |m, &x| m.max(x));
                        format!("{m:.3}")
                    })
                    .collect();
                println!("  window max scores {}", maxes.join(" "));
                println!(
                    "  windows {:?} probation {start} first hits {} fp rows {}",
                    f.windows,
                    tps.join(" "),
                    fps.join(" ")
                );
            }
            tot.0 += tp;
            tot.1 += fpc;
            tot.2 += f.windows.len() - hit;
            println!(
                "{key:60} n {:6} win {} hit {hit} fp {fp} tp {tp:.2} fpcost {fpc:.2}",
                f.scores.len(),
                f.windows.len()
            );
        }
        println!("total tp {:.2} fpcost {:.2} missed {}", tot.0, tot.1, tot.2);
    }
    if std::env::var_os("HASH").is_some() {
        // Equivalence check for optimisations: FNV-1a over every score's bits.
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for f in &files {
            for s in &f.scores {
                for b in s.to_bits().to_le_bytes() {
                    h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
                }
            }
        }
        println!("score hash {h:016x} over {rows} samples");
    }
    if std::env::var_os("PERF").is_some() {
        let mut e = seawatch_actors::detect::Ensemble::new(cfg.clone());
        let _ = e.update(0.0, 0.0);
        println!(
            "{rows} samples in {:.3} s: {:.3} us per sample; memory per series {} bytes at start",
            busy.as_secs_f64(),
            busy.as_secs_f64() * 1e6 / rows.max(1) as f64,
            e.memory_bytes()
        );
    }
    for p in &PROFILES {
        let r = score_profile(&files, p);
        if std::env::var_os("ALL").is_none() && p.name != "standard" {
            continue;
        }
        println!(
            "{:<20} {:7.2} (threshold {})",
            p.name, r.normalized, r.detector.threshold
        );
    }
}
