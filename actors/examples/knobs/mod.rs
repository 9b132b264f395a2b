//! Ensemble knobs from the environment, shared by the `nab_eval` and `ship_suite`
//! examples (one name per [`EnsembleConfig`] field; unset knobs keep the base value).

use seawatch_actors::detect::EnsembleConfig;

/// `base` with every knob set in the environment applied.
pub fn ensemble_from_env(base: EnsembleConfig) -> EnsembleConfig {
    let mut cfg = base;
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
    if let Some(v) = env("SUPPRESS") {
        cfg.suppress = v as usize;
    }
    if let Some(v) = env("FACTOR") {
        cfg.suppress_factor = v;
    }
    if let Some(v) = env("HISTORY") {
        cfg.history = v as usize;
    }
    if let Some(v) = env("SHORT") {
        cfg.short = v as usize;
    }
    if let Some(v) = env("MADW") {
        cfg.mad_window = v as usize;
    }
    if let Some(v) = env("ALPHA") {
        cfg.ewma_alpha = v;
    }
    if let Some(v) = env("MODE") {
        cfg.mode = v as u8;
    }
    if let Some(v) = env("Q") {
        cfg.quantile = v;
    }
    if let Some(v) = env("RESET") {
        cfg.drift_reset = v != 0.0;
    }
    if let Some(v) = env("TAIL") {
        cfg.tail_scale = v;
    }
    if let Some(v) = env("LAMBDA") {
        cfg.drift.2 = v;
    }
    if let Some(v) = env("BINS") {
        cfg.calib_bins = v as usize;
    }
    if let Some(v) = env("NK") {
        cfg.novelty_k = v as usize;
    }
    if let Some(v) = env("NRHO") {
        cfg.novelty_rho = v;
    }
    if let Some(v) = env("NALPHA") {
        cfg.novelty_alpha = v;
    }
    if let Some(v) = env("SURPRISE") {
        cfg.use_surprise = v != 0.0;
    }
    if let Some(v) = env("REST") {
        cfg.rest = v as usize;
    }
    if let Some(v) = env("ALERT") {
        cfg.rest_level = v;
    }
    if let Some(v) = env("RESTF") {
        cfg.rest_factor = v;
    }
    if let Some(v) = env("RESTESC") {
        cfg.rest_escalate = v as u8;
    }
    if let Ok(v) = std::env::var("WEIGHTS") {
        // "surprise,novelty,sequence" channel weights.
        for (i, w) in v.split(',').enumerate().take(3) {
            cfg.chan_weights[i] = w.trim().parse().expect("WEIGHTS");
        }
    }
    if let Some(v) = env("XI") {
        cfg.tail_xi = v;
    }
    if let Some(v) = env("SLOW") {
        cfg.slow_history = v as usize;
    }
    if let Some(v) = env("WARMUP") {
        cfg.warmup = v as usize;
    }
    if let Some(v) = env("NORM") {
        cfg.norm = v as u8;
    }
    if let Some(v) = env("NCAP") {
        cfg.norm_cap = v as usize;
    }
    if let Some(v) = env("SEQ") {
        cfg.seq_levels = v as usize;
    }
    if let Some(v) = env("SEQCAL") {
        cfg.seq_calib = v as usize;
    }
    if let Some(v) = env("SEQK") {
        cfg.seq_orders = v as usize;
    }
    if let Some(v) = env("SEQSLOTS") {
        cfg.seq_slots = v as usize;
    }
    if let Some(v) = env("SEQRUNS") {
        cfg.seq_runs = v != 0.0;
    }
    if let Some(v) = env("SEQCOLLAPSE") {
        cfg.seq_collapse = v != 0.0;
    }
    if let Some(v) = env("SEQSCORE") {
        cfg.seq_score = v as u8;
    }
    if let Some(v) = env("SEQSHORT") {
        cfg.seq_short = v as usize;
    }
    if let Some(v) = env("SEQDIRECT") {
        cfg.seq_direct = v;
    }
    if let Some(v) = env("ART") {
        cfg.art_dim = v as usize;
    }
    if let Some(v) = env("ARTB") {
        cfg.art_block = v as usize;
    }
    if let Some(v) = env("ARTK") {
        cfg.art_k = v as usize;
    }
    if let Some(v) = env("ARTCAL") {
        cfg.art_calib = v as usize;
    }
    if let Some(v) = env("ARTCHOMP") {
        cfg.art_chomp = v;
    }
    if let Some(v) = env("ARTRHO") {
        cfg.art_rho.1 = v;
    }
    if let Some(v) = env("ARTRHOMIN") {
        cfg.art_rho.0 = v;
    }
    if let Some(v) = env("ARTTARGET") {
        cfg.art_target = v;
    }
    if let Some(v) = env("ARTF") {
        cfg.art_factor = v;
    }
    if let Some(v) = env("ARTHOLD") {
        cfg.art_hold = v as usize;
    }
    if let Some(v) = env("ARTYOUNG") {
        cfg.art_young = v as u32;
    }
    if let Some(v) = env("ARTRATE") {
        cfg.art_rate = v;
    }
    if let Some(v) = env("ARTRATEA") {
        cfg.art_rate_alpha = v;
    }
    if let Some(v) = env("ARTB2") {
        cfg.art_block2 = v as usize;
    }
    if let Some(v) = env("THRESH") {
        cfg.alert_threshold = v;
    }
    if let Some(v) = env("LENP") {
        cfg.len_penalty = v;
    }
    if let Some(v) = env("LENREF") {
        cfg.len_ref = v as usize;
    }
    if let Some(v) = env("ARTCH") {
        cfg.art_channel = v != 0.0;
    }
    if let Ok(v) = std::env::var("NOV") {
        // "8x1,8x8": window blocks x block samples per channel; "" for none.
        cfg.novelty_scales = v
            .split(',')
            .filter_map(|p| {
                let (w, b) = p.split_once('x')?;
                Some((w.trim().parse().ok()?, b.trim().parse().ok()?))
            })
            .collect();
    }
    cfg
}
