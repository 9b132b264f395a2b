//! The device-state part of a dry run: what an ssh runbook's action steps would change in
//! a device's running configuration, read before approval with the runbook's
//! `config_command` (e.g. `show running-config`).
//!
//! The configuration is read as IOS-style sections: a line at the left margin opens a
//! section (`interface Gi1/0/7`, `hostname sw-1`), indented lines belong to it, `!` lines
//! separate. The action commands are replayed on that model the way a switch's
//! configuration mode takes them: `interface X` (also `vlan`, `router`, `line`) enters the
//! section X (created if new), `exit` leaves it, a line inside a section adds itself and
//! `no LINE` removes `LINE`; at the margin a line adds a section and `no LINE` removes it.
//! Commands outside that grammar are not guessed at: the step is reported as not
//! predicted. Nothing is sent to the device here.

use serde::{Deserialize, Serialize};

/// Section keywords that enter a configuration sub-mode.
const MODES: &[&str] = &["interface ", "vlan ", "router ", "line "];

/// The change one action step would make to one section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionDiff {
    /// Index of the action step.
    pub step: usize,
    /// The section's header line (`interface Gi1/0/7`).
    pub section: String,
    /// The section's lines before the step, header first (indented body lines).
    pub before: Vec<String>,
    /// The section's lines after the step (empty: the step removes the section).
    pub after: Vec<String>,
}

/// What the dry run says about one action step's effect on the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPrediction {
    /// Index of the action step.
    pub step: usize,
    /// The sections it changes (none: it changes nothing the configuration shows).
    pub changes: Vec<SectionDiff>,
    /// Set when the step holds a command this model does not understand: no prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Config {
    /// (header, body lines), in the device's order.
    sections: Vec<(String, Vec<String>)>,
}

impl Config {
    fn parse(text: &str) -> Self {
        let mut c = Config::default();
        for raw in text.lines() {
            let line = raw.trim_end();
            let body = line.trim_start();
            if body.is_empty() || body == "!" {
                continue;
            }
            if line.starts_with(char::is_whitespace) {
                if let Some((_, b)) = c.sections.last_mut() {
                    b.push(body.to_string());
                    continue;
                }
            }
            c.sections.push((body.to_string(), Vec::new()));
        }
        c
    }

    fn find(&self, header: &str) -> Option<usize> {
        self.sections.iter().position(|(h, _)| h == header)
    }

    fn lines_of(&self, header: &str) -> Vec<String> {
        self.find(header)
            .map(|i| {
                let (h, b) = &self.sections[i];
                std::iter::once(h.clone())
                    .chain(b.iter().map(|l| format!(" {l}")))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replays one step's commands; returns the headers it touched, in order, or the
    /// first command the model does not take.
    fn apply(&mut self, command: &str) -> Result<Vec<String>, String> {
        let mut touched: Vec<String> = Vec::new();
        let mut touch = |h: &str| {
            if !touched.iter().any(|t| t == h) {
                touched.push(h.to_string());
            }
        };
        let mut current: Option<String> = None;
        for raw in command.lines() {
            let line = raw.trim();
            if line.is_empty() || line == "!" {
                continue;
            }
            if line == "exit" || line == "end" {
                current = None;
                continue;
            }
            if line.starts_with("show ") || line.starts_with("do ") {
                return Err(line.to_string());
            }
            if MODES.iter().any(|m| line.starts_with(m)) {
                if self.find(line).is_none() {
                    self.sections.push((line.to_string(), Vec::new()));
                    touch(line);
                }
                current = Some(line.to_string());
                continue;
            }
            match &current {
                Some(h) => {
                    let i = self.find(h).ok_or_else(|| line.to_string())?;
                    let body = &mut self.sections[i].1;
                    let before = body.clone();
                    match line.strip_prefix("no ") {
                        Some(what) => body.retain(|l| l != what),
                        None if body.iter().any(|l| l == line) => {}
                        None => body.push(line.to_string()),
                    }
                    if *body != before {
                        touch(h);
                    }
                }
                None => match line.strip_prefix("no ") {
                    Some(what) => {
                        if let Some(i) = self.find(what) {
                            self.sections.remove(i);
                            touch(what);
                        }
                    }
                    None => {
                        if self.find(line).is_none() {
                            self.sections.push((line.to_string(), Vec::new()));
                            touch(line);
                        }
                    }
                },
            }
        }
        Ok(touched)
    }
}

/// Replays `actions` (each step's command, in order) on `running` and says, step by step,
/// which sections change and how. After a step the model does not understand, the later
/// steps are not predicted either (their starting state is unknown).
pub fn predict(running: &str, actions: &[&str]) -> Vec<StepPrediction> {
    let mut config = Config::parse(running);
    let mut out = Vec::new();
    let mut lost: Option<String> = None;
    for (step, command) in actions.iter().enumerate() {
        if let Some(why) = &lost {
            out.push(StepPrediction {
                step,
                changes: Vec::new(),
                unknown: Some(format!("after an unpredicted step ({why})")),
            });
            continue;
        }
        let before = config.clone();
        match config.apply(command) {
            Ok(touched) => out.push(StepPrediction {
                step,
                changes: touched
                    .into_iter()
                    .map(|h| SectionDiff {
                        step,
                        before: before.lines_of(&h),
                        after: config.lines_of(&h),
                        section: h,
                    })
                    .collect(),
                unknown: None,
            }),
            Err(cmd) => {
                let why = format!("not a configuration command: {cmd:?}");
                out.push(StepPrediction {
                    step,
                    changes: Vec::new(),
                    unknown: Some(why.clone()),
                });
                lost = Some(why);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str = "hostname acc-sw-1\ninterface Gi1/0/6\n!\ninterface Gi1/0/7\n description cabin 7012\n!\ninterface Gi1/0/8\n shutdown\n!\n";

    #[test]
    fn a_port_bounce_shows_the_shut_then_its_removal() {
        let p = predict(
            RUNNING,
            &[
                "interface Gi1/0/7\nshutdown",
                "interface Gi1/0/7\nno shutdown",
            ],
        );
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0].changes,
            vec![SectionDiff {
                step: 0,
                section: "interface Gi1/0/7".into(),
                before: vec!["interface Gi1/0/7".into(), " description cabin 7012".into()],
                after: vec![
                    "interface Gi1/0/7".into(),
                    " description cabin 7012".into(),
                    " shutdown".into()
                ],
            }]
        );
        assert_eq!(p[1].changes[0].before, p[0].changes[0].after);
        assert_eq!(p[1].changes[0].after, p[0].changes[0].before);
        assert!(p.iter().all(|s| s.unknown.is_none()));
    }

    #[test]
    fn what_is_already_so_changes_nothing_and_new_sections_show_as_added() {
        // Gi1/0/8 is already shut; a new VLAN and a removed hostname line
        let p = predict(
            RUNNING,
            &[
                "interface Gi1/0/8\nshutdown",
                "vlan 30\nname guests\nexit\nno hostname acc-sw-1",
            ],
        );
        assert!(p[0].changes.is_empty(), "{p:?}");
        let sections: Vec<(&str, usize, usize)> = p[1]
            .changes
            .iter()
            .map(|c| (c.section.as_str(), c.before.len(), c.after.len()))
            .collect();
        assert_eq!(
            sections,
            vec![("vlan 30", 0, 2), ("hostname acc-sw-1", 1, 0)]
        );
    }

    #[test]
    fn a_command_the_model_does_not_take_stops_the_prediction() {
        let p = predict(
            RUNNING,
            &["show interfaces status", "interface Gi1/0/7\nshutdown"],
        );
        assert!(p[0].unknown.as_deref().unwrap().contains("show interfaces"));
        assert!(p[1].changes.is_empty() && p[1].unknown.is_some());
    }
}
