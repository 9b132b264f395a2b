//! `[email]`: the SMTP server, the sender, and the routes that pick recipients
//! (contracts §9).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP (a relay on a trusted network, or tests).
    None,
    /// STARTTLS after the greeting (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[email]` in a ship config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server, `host:port`.
    pub smtp: String,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default)]
    pub tls: TlsMode,
    /// SMTP user (AUTH PLAIN/LOGIN); needs `password_file`.
    #[serde(default)]
    pub user: Option<String>,
    /// A file holding the SMTP password (first line).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A PEM file of CA certificates to trust for the server's TLS certificate, besides
    /// the system's (a shore relay with the fleet's own CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The `From:` address.
    pub from: String,
    /// First retry delay while the server cannot be reached, seconds (default 1).
    #[serde(default = "default_retry_initial_s")]
    pub retry_initial_s: f64,
    /// Longest retry delay, seconds (the delay doubles up to it; default 4).
    #[serde(default = "default_retry_max_s")]
    pub retry_max_s: f64,
    /// When the oldest waiting notice is this old, seconds, the outbox queues one critical
    /// notice about itself (sent first when the server answers again; default 3600).
    #[serde(default = "default_stalled_after_s")]
    pub stalled_after_s: f64,
    /// Who gets what; a notification goes to the union of every matching route's `to`.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteConfig>,
}

/// `[[email.route]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// What the route takes; an empty match takes everything.
    #[serde(default, rename = "match")]
    pub matcher: RouteMatch,
    /// Recipients.
    pub to: Vec<String>,
    /// Wait before an incident's first mail, seconds: an incident that resolves within
    /// it is never mailed (both notices are withdrawn). Default 0.
    #[serde(default)]
    pub group_wait_s: Option<f64>,
    /// Least time between two mails of one incident, seconds: a transition that comes
    /// sooner waits, and one undone within the wait (resolved then reopened) is
    /// withdrawn with the one it undid. Default 0.
    #[serde(default)]
    pub group_interval_s: Option<f64>,
    /// A reminder of an incident still open this long after its last mail, seconds.
    /// Default: none.
    #[serde(default)]
    pub repeat_interval_s: Option<f64>,
}

/// `match` of a route: each list, when not empty, must contain the notification's value.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// `minor`, `major`, `critical`.
    #[serde(default)]
    pub severity: Vec<String>,
    /// Ship ids.
    #[serde(default)]
    pub ship: Vec<String>,
    /// Device kinds of the root cause (`switch`, `router`, ..., or a link kind `vsat`, ...).
    #[serde(default)]
    pub device_kind: Vec<String>,
    /// Incident state after the transition: `open`, `acknowledged`, `resolved` (e.g.
    /// `["open"]` for a route that does not want resolved notices).
    #[serde(default)]
    pub state: Vec<String>,
}

fn default_retry_initial_s() -> f64 {
    1.0
}
/// 4 s: after the link comes back the first critical leaves within one delay (the
/// goal is ≤ 5 s); a retry is one TCP connection attempt, cheap even over a satellite.
fn default_retry_max_s() -> f64 {
    4.0
}
fn default_stalled_after_s() -> f64 {
    3600.0
}

/// What a notification is matched on.
#[derive(Debug, Clone, Copy)]
pub struct MatchInput<'a> {
    /// Severity word.
    pub severity: &'a str,
    /// Ship id.
    pub ship: &'a str,
    /// Kind of the root-cause element, if the inventory knows it.
    pub device_kind: Option<&'a str>,
    /// Incident state after the transition, if known.
    pub state: Option<&'a str>,
}

/// When the notices a set of routes takes go out: the largest wait and interval of the
/// matching routes, the shortest repeat.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    /// Group wait, ms.
    pub group_wait_ms: i64,
    /// Group interval, ms.
    pub group_interval_ms: i64,
    /// Repeat interval, seconds.
    pub repeat_s: Option<f64>,
}

impl RouteMatch {
    /// True when every non-empty list contains the input's value.
    pub fn matches(&self, input: MatchInput<'_>) -> bool {
        let has = |list: &[String], v: Option<&str>| {
            list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x == v))
        };
        has(&self.severity, Some(input.severity))
            && has(&self.ship, Some(input.ship))
            && has(&self.device_kind, input.device_kind)
            && has(&self.state, input.state)
    }
}

impl EmailConfig {
    /// Checks the section; the error names the key (`email.route[1].to`, ...) and what was
    /// expected.
    pub fn validate(&self) -> Result<(), String> {
        self.smtp_host_port()?;
        if !looks_like_address(&self.from) {
            return Err(format!(
                "email.from: expected an address like seawatch@ship.example, got {:?}",
                self.from
            ));
        }
        if self.user.is_some() != self.password_file.is_some() {
            return Err("email.user and email.password_file go together".into());
        }
        if !(self.retry_initial_s > 0.0 && self.retry_max_s >= self.retry_initial_s) {
            return Err(
                "email.retry_initial_s: expected 0 < retry_initial_s <= retry_max_s".into(),
            );
        }
        if self.stalled_after_s.is_nan() || self.stalled_after_s <= 0.0 {
            return Err("email.stalled_after_s: expected seconds > 0".into());
        }
        if self.routes.is_empty() {
            return Err("email.route: expected at least one [[email.route]] with `to`".into());
        }
        for (i, r) in self.routes.iter().enumerate() {
            if r.to.is_empty() {
                return Err(format!(
                    "email.route[{i}].to: expected at least one address"
                ));
            }
            if let Some(bad) = r.to.iter().find(|a| !looks_like_address(a)) {
                return Err(format!("email.route[{i}].to: {bad:?} is not an address"));
            }
            if let Some(bad) = r
                .matcher
                .severity
                .iter()
                .find(|s| !matches!(s.as_str(), "minor" | "major" | "critical"))
            {
                return Err(format!(
                    "email.route[{i}].match.severity: expected minor, major or critical, got {bad:?}"
                ));
            }
            if let Some(bad) = r
                .matcher
                .state
                .iter()
                .find(|s| !matches!(s.as_str(), "open" | "acknowledged" | "resolved"))
            {
                return Err(format!(
                    "email.route[{i}].match.state: expected open, acknowledged or resolved, got {bad:?}"
                ));
            }
            for (key, v) in [
                ("group_wait_s", r.group_wait_s),
                ("group_interval_s", r.group_interval_s),
                ("repeat_interval_s", r.repeat_interval_s),
            ] {
                if v.is_some_and(|v| v.is_nan() || v < 0.0) {
                    return Err(format!("email.route[{i}].{key}: expected seconds >= 0"));
                }
            }
        }
        Ok(())
    }

    /// The server's host and port.
    pub fn smtp_host_port(&self) -> Result<(String, u16), String> {
        if let Ok(a) = self.smtp.parse::<SocketAddr>() {
            return Ok((a.ip().to_string(), a.port()));
        }
        match self.smtp.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => p
                .parse::<u16>()
                .map(|p| (h.to_owned(), p))
                .map_err(|_| format!("email.smtp: expected host:port, got {:?}", self.smtp)),
            _ => Err(format!(
                "email.smtp: expected host:port, got {:?}",
                self.smtp
            )),
        }
    }

    /// The timing of the routes that match `input` (see [`Timing`]).
    pub fn timing(&self, input: MatchInput<'_>) -> Timing {
        let ms = |s: Option<f64>| (s.unwrap_or(0.0) * 1000.0) as i64;
        let mut t = Timing::default();
        for r in self.routes.iter().filter(|r| r.matcher.matches(input)) {
            t.group_wait_ms = t.group_wait_ms.max(ms(r.group_wait_s));
            t.group_interval_ms = t.group_interval_ms.max(ms(r.group_interval_s));
            if let Some(rep) = r.repeat_interval_s.filter(|r| *r > 0.0) {
                t.repeat_s = Some(t.repeat_s.map_or(rep, |x: f64| x.min(rep)));
            }
        }
        t
    }

    /// Every route's recipients, in route order, without repeats (for the outbox's notice
    /// about itself).
    pub fn all_recipients(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in self.routes.iter().flat_map(|r| &r.to) {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }

    /// The recipients of a notification: the union of every matching route's `to`, in
    /// route order, without repeats. Empty: nobody wants it.
    pub fn recipients(&self, input: MatchInput<'_>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.routes.iter().filter(|r| r.matcher.matches(input)) {
            for a in &r.to {
                if !out.contains(a) {
                    out.push(a.clone());
                }
            }
        }
        out
    }
}

fn looks_like_address(a: &str) -> bool {
    a.parse::<lettre::Address>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EmailConfig, String> {
        let c: EmailConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map(|()| c)
    }

    const OK: &str = r#"
smtp = "mail.shore.example:587"
from = "seawatch@aurora.example"
[[route]]
match = { severity = ["critical"] }
to = ["bridge@aurora.example"]
[[route]]
match = { device_kind = ["switch"] }
to = ["it@aurora.example", "bridge@aurora.example"]
group_wait_s = 30
"#;

    #[test]
    fn routes_union_their_recipients() {
        let c = parse(OK).unwrap();
        assert_eq!(c.tls, TlsMode::Starttls);
        assert_eq!(
            c.smtp_host_port().unwrap(),
            ("mail.shore.example".into(), 587)
        );
        let crit_switch = MatchInput {
            severity: "critical",
            ship: "aurora",
            device_kind: Some("switch"),
            state: Some("open"),
        };
        assert_eq!(
            c.recipients(crit_switch),
            ["bridge@aurora.example", "it@aurora.example"]
        );
        let minor_ap = MatchInput {
            severity: "minor",
            ship: "aurora",
            device_kind: Some("ap"),
            state: Some("open"),
        };
        assert!(c.recipients(minor_ap).is_empty());
    }

    #[test]
    fn bad_sections_name_the_key() {
        for (text, key) in [
            ("smtp = \"nohost\"\nfrom = \"a@b.c\"\n[[route]]\nto=[\"x@y.z\"]", "email.smtp"),
            ("smtp = \"h:25\"\nfrom = \"nobody\"\n[[route]]\nto=[\"x@y.z\"]", "email.from"),
            ("smtp = \"h:25\"\nfrom = \"a@b.c\"\n[[route]]\nto=[]", "email.route[0].to"),
            ("smtp = \"h:25\"\nfrom = \"a@b.c\"", "email.route"),
            (
                "smtp = \"h:25\"\nfrom = \"a@b.c\"\n[[route]]\nto=[\"x@y.z\"]\nmatch={severity=[\"huge\"]}",
                "email.route[0].match.severity",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with(key), "{text}: {e}");
        }
        assert!(parse("smtp = \"h:25\"\nfrom = \"a@b.c\"\nbogus = 1")
            .unwrap_err()
            .contains("bogus"));
    }
}
