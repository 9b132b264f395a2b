//! A notification: what one incident transition reports, its stable Message-ID and thread
//! headers, and the mail rendered from the repository's template.

use std::time::{Duration, UNIX_EPOCH};

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::Message;
use serde::{Deserialize, Serialize};

/// The plain-text body template (placeholders in braces).
pub const TEMPLATE: &str = include_str!("templates/incident.txt");

/// One notification, as queued in the outbox: everything needed to render the same bytes
/// again after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// `<incident.transition@ship.seawatch>`, stable (see [`message_id`]).
    pub message_id: String,
    /// The thread's first Message-ID (the incident's `opened` notice); `None` for that one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// Ship id.
    pub ship: String,
    /// Incident id.
    pub incident: String,
    /// `opened`, `resolved` or `reopened`.
    pub transition: String,
    /// `minor`, `major` or `critical`.
    pub severity: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// When it was queued, unix ms (also its `Date:`).
    pub queued_at_ms: i64,
    /// For a digest: the Message-IDs of the notifications it stands for (they are sent
    /// when it is).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Not sent before this time, unix ms (0: at once): the route's `group_wait_s` for an
    /// incident's first notice, `group_interval_s` after its previous one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub due_at_ms: i64,
    /// The root-cause element (for silences and inhibition).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub root_cause: String,
    /// Reminder period while the incident stays open, seconds (the routes'
    /// `repeat_interval_s`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_s: Option<f64>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// One digest of `members` (all for the same recipients), the `ordinal`-th digest of the
/// outbox: what an outage held back, in one mail.
pub fn digest(ordinal: usize, members: &[&Notification], now_ms: i64) -> Notification {
    let first = members[0];
    let count = |t: &str| members.iter().filter(|n| n.transition == t).count();
    let (opened, resolved, reopened) = (count("opened"), count("resolved"), count("reopened"));
    let mut body = format!(
        "{} notices of {} held back while mail could not be sent: {opened} opened, \
         {resolved} resolved, {reopened} reopened. Critical ones were sent on their own.\n\n",
        members.len(),
        first.ship
    );
    for n in members {
        body.push_str(&format!(
            "- {} {} {} ({}): {}\n",
            crate::incident::api::rfc3339(n.queued_at_ms),
            n.incident,
            n.transition,
            n.severity,
            n.subject
        ));
    }
    body.push_str(&format!(
        "\nEach notice above keeps its own Message-ID in the outbox (GET /api/notifications).\n\n-- \nseawatch on {}.\n",
        first.ship
    ));
    Notification {
        message_id: message_id(&first.ship, "digest", "outage", ordinal + 1),
        thread: None,
        ship: first.ship.clone(),
        incident: String::new(),
        transition: "digest".into(),
        severity: "digest".into(),
        to: first.to.clone(),
        subject: format!(
            "[seawatch {}] digest: {} notices ({opened} opened, {resolved} resolved, {reopened} reopened)",
            first.ship,
            members.len()
        ),
        body,
        queued_at_ms: now_ms,
        members: members.iter().map(|n| n.message_id.clone()).collect(),
        due_at_ms: 0,
        root_cause: String::new(),
        repeat_s: None,
    }
}

/// The `ordinal`-th (from 1) notice of the outbox about itself: `(waiting, oldest_ms)`,
/// notices have waited since `oldest_ms` because the SMTP server `smtp` could not be reached
/// (`last_error`). Critical, so it goes first when the server answers again.
pub fn stalled(
    ship: &str,
    ordinal: usize,
    (waiting, oldest_ms): (usize, i64),
    smtp: &str,
    last_error: Option<&str>,
    to: Vec<String>,
    now_ms: i64,
) -> Notification {
    let mins = (now_ms - oldest_ms).max(0) / 60_000;
    Notification {
        message_id: message_id(ship, "outbox", "stalled", ordinal),
        thread: None,
        ship: ship.to_owned(),
        incident: String::new(),
        transition: "stalled".into(),
        severity: "critical".into(),
        to,
        subject: format!("[seawatch {ship}] critical: mail from {ship} held back for {mins} min"),
        body: format!(
            "The mail outbox of {ship} holds {waiting} notices, the oldest queued at {} ({mins} min before this notice), because the SMTP server {smtp} could not be reached.\nLast error: {}\n\nThey follow this notice, criticals one by one and the rest as a digest. Meanwhile the ship's console lists them (GET /api/notifications).\n\n-- \nseawatch on {ship}.\n",
            crate::incident::api::rfc3339(oldest_ms),
            last_error.unwrap_or("none recorded"),
        ),
        queued_at_ms: now_ms,
        members: Vec::new(),
        due_at_ms: 0,
        root_cause: String::new(),
        repeat_s: None,
    }
}

/// The `ordinal`-th (from 1) reminder of an incident still open, from the last notice of
/// its thread (`last`), queued at `now_ms`: same recipients and thread, its own
/// Message-ID `<incident.repeat.n@ship.seawatch>`.
pub fn reminder(last: &Notification, ordinal: usize, now_ms: i64) -> Notification {
    let opened = message_id(&last.ship, &last.incident, "opened", 0);
    let since = (now_ms - last.queued_at_ms).max(0) / 60_000;
    let subject = match last.subject.rsplit_once(" [") {
        Some((head, _)) => format!("{head} [repeat]"),
        None => format!("{} [repeat]", last.subject),
    };
    Notification {
        message_id: message_id(&last.ship, &last.incident, "repeat", ordinal),
        thread: Some(opened),
        ship: last.ship.clone(),
        incident: last.incident.clone(),
        transition: "repeat".into(),
        severity: last.severity.clone(),
        to: last.to.clone(),
        subject,
        body: format!(
            "Reminder: incident {} is still open, {since} min after this notice of it:\n\n{}",
            last.incident, last.body
        ),
        queued_at_ms: now_ms,
        members: Vec::new(),
        due_at_ms: 0,
        root_cause: last.root_cause.clone(),
        repeat_s: last.repeat_s,
    }
}

/// The Message-ID of the `ordinal`-th `transition` of `incident` on `ship`:
/// `<incident.transition[.ordinal]@ship.seawatch>` (ordinal omitted when 0). Derived only
/// from what the notice reports, so a replayed event or a restart finds the same id.
pub fn message_id(ship: &str, incident: &str, transition: &str, ordinal: usize) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let (ship, incident, transition) = (clean(ship), clean(incident), clean(transition));
    if ordinal == 0 {
        format!("<{incident}.{transition}@{ship}.seawatch>")
    } else {
        format!("<{incident}.{transition}.{ordinal}@{ship}.seawatch>")
    }
}

/// The facts of an incident transition the template needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Ship id.
    pub ship: String,
    /// Incident id.
    pub incident: String,
    /// `opened`, `resolved`, `reopened`.
    pub transition: String,
    /// Severity word.
    pub severity: String,
    /// Incident state word.
    pub state: String,
    /// Root-cause element.
    pub root_cause: String,
    /// One line for operators.
    pub summary: String,
    /// Alert count.
    pub alerts: u64,
    /// RFC 3339.
    pub opened_at: String,
    /// RFC 3339 or empty.
    pub resolved_at: String,
}

impl Facts {
    /// Reads an incident push body (`IncidentView` fields plus `event`); `None` when it
    /// is not a transition that mails (`opened`, `resolved`, `reopened`) or lacks fields.
    pub fn from_push(body: &serde_json::Value) -> Option<Facts> {
        let s = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let transition = s("event")?;
        if !matches!(transition.as_str(), "opened" | "resolved" | "reopened") {
            return None;
        }
        Some(Facts {
            ship: s("ship")?,
            incident: s("id")?,
            transition,
            severity: s("severity")?,
            state: s("state").unwrap_or_default(),
            root_cause: s("root_cause").unwrap_or_default(),
            summary: s("summary").unwrap_or_default(),
            alerts: body.get("alerts").and_then(|v| v.as_u64()).unwrap_or(0),
            opened_at: s("opened_at").unwrap_or_default(),
            resolved_at: s("resolved_at").unwrap_or_default(),
        })
    }

    /// The facts of an incident event read from the log (the same as [`Facts::from_push`]
    /// of its push body); `None` for a transition that does not mail.
    pub fn from_event(e: &crate::incident::IncidentEvent) -> Option<Facts> {
        use crate::incident::model::IncidentEventKind as K;
        let transition = match e.kind {
            K::Opened => "opened",
            K::Resolved => "resolved",
            K::Reopened => "reopened",
            _ => return None,
        };
        let i = &e.incident;
        let time = crate::incident::api::rfc3339;
        Some(Facts {
            ship: i.ship.clone(),
            incident: i.id.clone(),
            transition: transition.into(),
            severity: i.severity.as_str().into(),
            state: i.state.as_str().into(),
            root_cause: i.root_cause.clone(),
            summary: i.summary.clone(),
            alerts: i.alerts,
            opened_at: time(i.opened_at_ms),
            resolved_at: i.resolved_at_ms.map(time).unwrap_or_default(),
        })
    }

    /// The notification for these facts, numbered `ordinal` among the incident's
    /// transitions of this kind, for `to`, queued at `now_ms`.
    pub fn notification(&self, ordinal: usize, to: Vec<String>, now_ms: i64) -> Notification {
        let id = message_id(&self.ship, &self.incident, &self.transition, ordinal);
        let first = message_id(&self.ship, &self.incident, "opened", 0);
        let body = TEMPLATE
            .replace("{severity_upper}", &self.severity.to_uppercase())
            .replace("{severity}", &self.severity)
            .replace("{incident}", &self.incident)
            .replace("{ship}", &self.ship)
            .replace("{event}", &self.transition)
            .replace("{summary}", &self.summary)
            .replace("{root_cause}", &self.root_cause)
            .replace("{state}", &self.state)
            .replace("{alerts}", &self.alerts.to_string())
            .replace("{opened_at}", &self.opened_at)
            .replace(
                "{resolved_at}",
                if self.resolved_at.is_empty() {
                    "-"
                } else {
                    &self.resolved_at
                },
            )
            .replace("{message_id}", &id);
        Notification {
            thread: (id != first).then_some(first),
            message_id: id,
            ship: self.ship.clone(),
            incident: self.incident.clone(),
            transition: self.transition.clone(),
            severity: self.severity.clone(),
            to,
            // The same subject for the whole thread, the transition in brackets.
            subject: format!(
                "[seawatch {}] {} {}: {} [{}]",
                self.ship,
                self.severity,
                self.incident,
                self.summary.chars().take(120).collect::<String>(),
                self.transition
            ),
            body,
            queued_at_ms: now_ms,
            members: Vec::new(),
            due_at_ms: 0,
            root_cause: self.root_cause.clone(),
            repeat_s: None,
        }
    }
}

impl Notification {
    /// The mail, from `from`: a pure function of the notification, so a re-send after a
    /// crash carries the same bytes.
    pub fn render(&self, from: &Mailbox) -> Result<Message, String> {
        let mut b = Message::builder()
            .from(from.clone())
            .message_id(Some(self.message_id.clone()))
            .subject(self.subject.clone())
            .date(UNIX_EPOCH + Duration::from_millis(self.queued_at_ms.max(0) as u64));
        if let Some(first) = &self.thread {
            b = b.in_reply_to(first.clone()).references(first.clone());
        }
        for to in &self.to {
            let mb: Mailbox = to.parse().map_err(|e| format!("recipient {to:?}: {e}"))?;
            b = b.to(mb);
        }
        // Plain text and its HTML rendering; the boundary comes from the Message-ID, so a
        // re-send is the same bytes.
        let parts = MultiPart::alternative()
            .boundary(boundary(&self.message_id))
            .singlepart(SinglePart::plain(self.body.clone()))
            .singlepart(SinglePart::html(self.html()));
        b.multipart(parts).map_err(|e| e.to_string())
    }

    /// The HTML part: the plain body laid out (its first line as the heading, `Key:  value`
    /// lines as a table, the rest as paragraphs), a pure function of the stored record,
    /// every text escaped.
    pub fn html(&self) -> String {
        let colour = match self.severity.as_str() {
            "critical" => "#b00020",
            "major" => "#c25e00",
            "minor" => "#8a6d00",
            _ => "#1f4e79",
        };
        let mut lines = self.body.lines();
        let title = lines.next().unwrap_or_default();
        let mut out = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
             <body style=\"font-family:sans-serif;font-size:14px;color:#222\">\
             <h2 style=\"color:{colour};margin:0 0 12px\">{}</h2>",
            escape(&self.subject),
            escape(title)
        );
        let mut table = false;
        let mut para: Vec<&str> = Vec::new();
        let flush = |out: &mut String, para: &mut Vec<&str>| {
            if !para.is_empty() {
                out.push_str(&format!("<p>{}</p>", escape(&para.join(" "))));
                para.clear();
            }
        };
        for line in lines {
            let field = line
                .split_once(":  ")
                .filter(|(k, _)| !k.is_empty() && k.len() <= 20 && !k.starts_with(' '));
            match field {
                Some((k, v)) => {
                    flush(&mut out, &mut para);
                    if !table {
                        out.push_str("<table style=\"border-collapse:collapse\">");
                        table = true;
                    }
                    out.push_str(&format!(
                        "<tr><th style=\"text-align:left;padding:2px 12px 2px 0\">{}</th><td>{}</td></tr>",
                        escape(k),
                        escape(v.trim())
                    ));
                }
                None => {
                    if table {
                        out.push_str("</table>");
                        table = false;
                    }
                    if line.trim().is_empty() || line == "-- " {
                        flush(&mut out, &mut para);
                    } else {
                        para.push(line.trim());
                    }
                }
            }
        }
        if table {
            out.push_str("</table>");
        }
        flush(&mut out, &mut para);
        out.push_str("</body></html>\n");
        out
    }
}

/// `seawatch-` and 16 hex digits of an FNV-1a hash of the Message-ID: a MIME boundary
/// that is the same on every re-send of one notification.
fn boundary(message_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in message_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("seawatch-{h:016x}")
}

/// Text for HTML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(transition: &str) -> Facts {
        Facts {
            ship: "aurora".into(),
            incident: "aurora-7".into(),
            transition: transition.into(),
            severity: "critical".into(),
            state: "open".into(),
            root_cause: "core-sw-1".into(),
            summary: "core-sw-1 unreachable; 12 ap behind it affected".into(),
            alerts: 13,
            opened_at: "2026-12-07T00:00:00Z".into(),
            resolved_at: String::new(),
        }
    }

    #[test]
    fn ids_are_stable_and_thread_on_the_opened_notice() {
        let from: Mailbox = "seawatch@aurora.example".parse().unwrap();
        let open = facts("opened").notification(0, vec!["a@x.example".into()], 1_000);
        let res = facts("resolved").notification(0, vec!["a@x.example".into()], 2_000);
        let res2 = facts("resolved").notification(1, vec!["a@x.example".into()], 3_000);
        assert_eq!(open.message_id, "<aurora-7.opened@aurora.seawatch>");
        assert_eq!(open.thread, None);
        assert_eq!(res.message_id, "<aurora-7.resolved@aurora.seawatch>");
        assert_eq!(res2.message_id, "<aurora-7.resolved.1@aurora.seawatch>");
        assert_eq!(res.thread.as_deref(), Some(open.message_id.as_str()));
        let a = String::from_utf8(res.render(&from).unwrap().formatted()).unwrap();
        let b = String::from_utf8(res.render(&from).unwrap().formatted()).unwrap();
        assert_eq!(a, b, "rendering is a pure function");
        assert!(
            a.contains("In-Reply-To: <aurora-7.opened@aurora.seawatch>"),
            "{a}"
        );
        assert!(
            a.contains("References: <aurora-7.opened@aurora.seawatch>"),
            "{a}"
        );
        assert!(
            a.contains("Message-ID: <aurora-7.resolved@aurora.seawatch>"),
            "{a}"
        );
        assert!(a.contains("core-sw-1 unreachable"), "{a}");
    }

    #[test]
    fn only_opened_resolved_and_reopened_mail() {
        let body = serde_json::json!({"event": "alert_attached", "id": "s-1", "ship": "s", "severity": "minor"});
        assert!(Facts::from_push(&body).is_none());
        let body =
            serde_json::json!({"event": "reopened", "id": "s-1", "ship": "s", "severity": "minor"});
        assert_eq!(Facts::from_push(&body).unwrap().transition, "reopened");
        assert!(Facts::from_push(&serde_json::json!({"event": "opened"})).is_none());
    }
}

#[cfg(test)]
mod html_tests {
    use super::*;

    #[test]
    fn the_html_part_escapes_what_devices_and_operators_wrote() {
        let f = Facts {
            ship: "aurora".into(),
            incident: "aurora-9".into(),
            transition: "opened".into(),
            severity: "major".into(),
            state: "open".into(),
            root_cause: "sw-<1>".into(),
            summary: "link \"down\" & <script>alert(1)</script>".into(),
            alerts: 2,
            opened_at: "2026-12-07T00:00:00.000Z".into(),
            resolved_at: String::new(),
        };
        let n = f.notification(0, vec!["it@aurora.example".into()], 1_796_601_600_000);
        let html = n.html();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<td>sw-&lt;1&gt;</td>"), "{html}");
        assert!(html.contains("&quot;down&quot; &amp;"), "{html}");
        // The same record renders the same bytes (boundary included).
        let from: Mailbox = "seawatch@aurora.example".parse().unwrap();
        assert_eq!(
            n.render(&from).unwrap().formatted(),
            n.render(&from).unwrap().formatted()
        );
    }
}

#[cfg(test)]
mod from_event_tests {
    use super::*;
    use crate::incident::actor::push_body;
    use crate::incident::IncidentEvent;

    #[test]
    fn an_event_read_from_the_log_gives_the_facts_its_push_gives() {
        for (event, resolved) in [("opened", None), ("resolved", Some(1_796_601_700_000i64))] {
            let ie: IncidentEvent = serde_json::from_value(serde_json::json!({
                "ts_ms": 1_796_601_600_000i64, "event": event,
                "incident": {"id": "aurora-3", "ship": "aurora", "root_cause": "sw-1",
                    "severity": "major", "state": if resolved.is_some() { "resolved" } else { "open" },
                    "alerts": 4, "opened_at_ms": 1_796_601_600_000i64, "resolved_at_ms": resolved,
                    "members": ["sw-1"], "summary": "sw-1 unreachable"}
            }))
            .unwrap();
            let from_push = Facts::from_push(&push_body(&ie).unwrap()).unwrap();
            assert_eq!(Facts::from_event(&ie).unwrap(), from_push, "{event}");
        }
    }
}
