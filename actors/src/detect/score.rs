//! NAB scoring (shared/data/nab/README.md): windows, probation, the scaled sigmoid, the
//! three profiles, one corpus-wide threshold, normalisation against null and perfect.

/// NAB cost profile: weights of a true positive, a missed window and a false positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Profile name as NAB spells it.
    pub name: &'static str,
    /// Weight of a detected window (earliest detection).
    pub tp: f64,
    /// Cost of a window with no detection.
    pub fn_: f64,
    /// Weight of a detection outside every window.
    pub fp: f64,
}

/// The three NAB profiles: standard, reward_low_FP_rate, reward_low_FN_rate.
pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "standard",
        tp: 1.0,
        fn_: 1.0,
        fp: 0.11,
    },
    Profile {
        name: "reward_low_FP_rate",
        tp: 1.0,
        fn_: 1.0,
        fp: 0.22,
    },
    Profile {
        name: "reward_low_FN_rate",
        tp: 1.0,
        fn_: 2.0,
        fp: 0.11,
    },
];

/// NAB's scaled sigmoid: `2 * sigmoid(-5 y) - 1`, and -1 beyond `y > 3`.
pub fn scaled_sigmoid(y: f64) -> f64 {
    if y > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

/// The probation length of a file of `n` rows: 15 % of the rows, at most 750.
pub fn probation(n: usize) -> usize {
    ((0.15 * n as f64).floor() as usize).min(750)
}

/// One file to score: its anomaly scores per row and its windows as inclusive row ranges
/// (in time order, not overlapping).
#[derive(Debug, Clone, Default)]
pub struct FileScores {
    /// `anomaly_score` per row.
    pub scores: Vec<f64>,
    /// Labelled windows, `(first_row, last_row)` inclusive.
    pub windows: Vec<(usize, usize)>,
}

/// A scorable row: its anomaly score, the corpus-wide window it lies in (if any) and its
/// NAB weight under a profile.
#[derive(Debug, Clone, Copy)]
struct Point {
    score: f64,
    window: Option<usize>,
    weight: f64,
}

/// The rows of one file after probation with their weights; `first_window` numbers the
/// file's windows corpus-wide. Returns the points and the number of scored windows
/// (windows with at least one row after probation), numbered from `first_window`.
fn points(f: &FileScores, p: &Profile, first_window: usize, out: &mut Vec<Point>) -> usize {
    let n = f.scores.len();
    let prob = probation(n);
    let max_tp = scaled_sigmoid(-1.0);
    let mut scored = 0usize;
    let mut prev: Option<(usize, f64)> = None; // (right index, width) of the last window
    let mut w = 0usize;
    let mut i = 0usize;
    while i < n {
        if w < f.windows.len() && i == f.windows[w].0 {
            let (l, r) = f.windows[w];
            let r = r.min(n - 1);
            let width = (r - l + 1) as f64;
            let id = if r >= prob {
                scored += 1;
                Some(first_window + scored - 1)
            } else {
                None
            };
            for j in l..=r {
                if j >= prob {
                    let pos = -((r - j + 1) as f64) / width;
                    out.push(Point {
                        score: f.scores[j],
                        window: id,
                        weight: scaled_sigmoid(pos) * p.tp / max_tp,
                    });
                }
            }
            prev = Some((r, width));
            w += 1;
            i = r + 1;
            continue;
        }
        if i >= prob {
            let unweighted = match prev {
                None => -1.0,
                Some((r, width)) => scaled_sigmoid((i - r) as f64 / (width - 1.0)),
            };
            out.push(Point {
                score: f.scores[i],
                window: None,
                weight: unweighted * p.fp,
            });
        }
        i += 1;
    }
    scored
}

/// The best corpus-wide threshold and its raw score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sweep {
    /// Detections are rows with `anomaly_score >= threshold` (`> 1` means none).
    pub threshold: f64,
    /// Summed raw NAB score at that threshold.
    pub raw: f64,
    /// Number of scored windows in the corpus.
    pub windows: usize,
}

/// Sweeps every distinct score as the threshold over the whole corpus and returns the one
/// with the highest summed raw score (the highest such threshold on ties).
pub fn sweep(files: &[FileScores], p: &Profile) -> Sweep {
    let mut pts = Vec::new();
    let mut windows = 0usize;
    for f in files {
        windows += points(f, p, windows, &mut pts);
    }
    pts.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut best_tp: Vec<Option<f64>> = vec![None; windows];
    let mut total = -p.fn_ * windows as f64;
    let mut best = Sweep {
        threshold: 1.1,
        raw: total,
        windows,
    };
    let mut k = 0;
    while k < pts.len() {
        let s = pts[k].score;
        while k < pts.len() && pts[k].score == s {
            let pt = pts[k];
            match pt.window {
                None => total += pt.weight,
                Some(w) => match best_tp[w] {
                    None => {
                        total += pt.weight + p.fn_;
                        best_tp[w] = Some(pt.weight);
                    }
                    Some(b) if pt.weight > b => {
                        total += pt.weight - b;
                        best_tp[w] = Some(pt.weight);
                    }
                    Some(_) => {}
                },
            }
            k += 1;
        }
        if total > best.raw + 1e-12 {
            best = Sweep {
                threshold: s,
                raw: total,
                windows,
            };
        }
    }
    best
}

/// A profile's result over a corpus.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileScore {
    /// The profile.
    pub profile: Profile,
    /// The detector's best threshold and raw score.
    pub detector: Sweep,
    /// The null detector's (constant 0.5) best raw score.
    pub null: f64,
    /// The perfect detector's raw score: scored windows × tp weight.
    pub perfect: f64,
    /// `100 * (raw - null) / (perfect - null)`.
    pub normalized: f64,
}

/// Scores a corpus under one profile, normalised against the null and perfect detectors.
pub fn score_profile(files: &[FileScores], p: &Profile) -> ProfileScore {
    let det = sweep(files, p);
    let nulls: Vec<FileScores> = files
        .iter()
        .map(|f| FileScores {
            scores: vec![0.5; f.scores.len()],
            windows: f.windows.clone(),
        })
        .collect();
    let null = sweep(&nulls, p).raw;
    let perfect = det.windows as f64 * p.tp;
    let normalized = if perfect > null {
        100.0 * (det.raw - null) / (perfect - null)
    } else {
        0.0
    };
    ProfileScore {
        profile: *p,
        detector: det,
        null,
        perfect,
        normalized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STD: Profile = PROFILES[0];

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn sigmoid_values() {
        // S(0) = 2 / (1 + e^0) - 1 = 0.
        close(scaled_sigmoid(0.0), 0.0);
        // S(-1) = 2 / (1 + e^-5) - 1 = 2 / 1.006737947 - 1 = 0.986614298.
        close(scaled_sigmoid(-1.0), 0.986_614_298_151_430_3);
        // Beyond 3 the sigmoid is clamped at -1; at 3 it is 2/(1+e^15) - 1.
        close(scaled_sigmoid(3.5), -1.0);
        close(scaled_sigmoid(3.0), 2.0 / (1.0 + 15f64.exp()) - 1.0);
    }

    #[test]
    fn probation_length() {
        // 15 % of 100 = 15; 15 % of 10,000 = 1,500 capped at 750.
        assert_eq!(probation(100), 15);
        assert_eq!(probation(10_000), 750);
        assert_eq!(probation(19), 2); // floor(2.85)
    }

    /// 20 rows: probation = floor(3.0) = 3 rows. One window, rows 10..=13 (width 4).
    fn file(scores: Vec<f64>) -> FileScores {
        FileScores {
            scores,
            windows: vec![(10, 13)],
        }
    }

    #[test]
    fn detection_at_window_left_edge_scores_tp_weight() {
        // One detection (score 1) at row 10, the window's left edge:
        // p = -(13 - 10 + 1) / 4 = -1, weight = S(-1) * 1 / S(-1) = 1.
        let mut s = vec![0.0; 20];
        s[10] = 1.0;
        let r = sweep(&[file(s)], &STD);
        close(r.threshold, 1.0);
        close(r.raw, 1.0);
        assert_eq!(r.windows, 1);
    }

    #[test]
    fn late_detection_and_fp_after_window() {
        // Detection at row 12: p = -(13 - 12 + 1)/4 = -0.5,
        //   S(-0.5) = 2/(1+e^-2.5) - 1 = 2/1.0820850 - 1 = 0.8482836
        // FP at row 15: q = (15 - 13)/(4 - 1) = 2/3, S(2/3) = 2/(1+e^(10/3)) - 1
        //   = -0.931109..., times 0.11.
        // FP at row 5 (before any window, after probation): -1 * 0.11.
        let mut s = vec![0.0; 20];
        s[12] = 0.9;
        s[15] = 0.9;
        s[5] = 0.9;
        let tp = (2.0 / (1.0 + (-2.5f64).exp()) - 1.0) / scaled_sigmoid(-1.0);
        let fp_after = (2.0 / (1.0 + (10.0f64 / 3.0).exp()) - 1.0) * 0.11;
        // 0.8482836399575131 / 0.9866142981514305 = 0.8597925669097837.
        close(tp, 0.859_792_566_909_783_7);
        let r = sweep(&[file(s)], &STD);
        // At threshold 0.9: 0.85979 - 0.10242 - 0.11 = 0.64737 > -1 (no detection).
        close(r.raw, tp + fp_after - 0.11);
        close(r.threshold, 0.9);
    }

    #[test]
    fn earliest_detection_counts_and_rows_in_probation_do_not() {
        // Rows 0..=2 are probation: a detection there changes nothing.
        // Rows 11 and 13 both detect: only the best (earliest, row 11) counts:
        //   p = -(13 - 11 + 1)/4 = -0.75.
        let mut s = vec![0.0; 20];
        s[1] = 1.0;
        s[11] = 1.0;
        s[13] = 1.0;
        let r = sweep(&[file(s)], &STD);
        close(r.raw, scaled_sigmoid(-0.75) / scaled_sigmoid(-1.0));
    }

    #[test]
    fn threshold_is_one_for_the_corpus() {
        // File A: detection at its window's left edge with score 0.6 (worth +1).
        // File B: no window; one FP with score 0.8 (worth -0.11) and nothing else.
        // Thresholds: 0.8 -> -1 (A missed) - 0.11 = -1.11; 0.6 -> 1 - 0.11 = 0.89;
        // 0 -> every row detects: A has 16 rows after probation outside the window
        // ... so the best is 0.6 with 0.89.
        let mut a = vec![0.0; 20];
        a[10] = 0.6;
        let mut b = vec![0.0; 20];
        b[8] = 0.8;
        let files = [
            file(a),
            FileScores {
                scores: b,
                windows: vec![],
            },
        ];
        let r = sweep(&files, &STD);
        close(r.threshold, 0.6);
        close(r.raw, 0.89);
    }

    #[test]
    fn missed_window_costs_fn_weight_per_profile() {
        // Nothing detects (all zeros): best is to detect nothing? At threshold 0 every
        // row detects; with no threshold the raw score is -fn per window.
        let s = vec![0.0; 20];
        let low_fn = sweep(&[file(s.clone())], &PROFILES[2]);
        // Threshold 0: TP at row 10 = +1; FPs: rows 3..=9 (7 rows, no window before)
        //   = -7 * 0.11 = -0.77; rows 14..=19 after the window: q = (i-13)/3 for
        //   i = 14..19 -> S(1/3), S(2/3), S(1), S(4/3), S(5/3), S(2), all * 0.11.
        let after: f64 = (14..20)
            .map(|i| scaled_sigmoid((i - 13) as f64 / 3.0) * 0.11)
            .sum();
        let at0 = 1.0 - 0.77 + after;
        // at0 = 1 - 0.77 - 0.0967... > -2 (the reward_low_FN miss cost), so 0 wins.
        close(low_fn.raw, at0);
        close(low_fn.threshold, 0.0);
    }

    #[test]
    fn normalisation_against_null_and_perfect() {
        // Null (all 0.5) on one file with the window: detecting everything scores
        // at0 (previous test with standard weights) vs -1 for nothing.
        let after: f64 = (14..20)
            .map(|i| scaled_sigmoid((i - 13) as f64 / 3.0) * 0.11)
            .sum();
        let null = (1.0 - 0.77 + after).max(-1.0);
        let mut s = vec![0.0; 20];
        s[10] = 1.0;
        let r = score_profile(&[file(s)], &STD);
        close(r.null, null);
        close(r.perfect, 1.0);
        // The perfect detection: normalised 100.
        close(r.normalized, 100.0);
    }
}
