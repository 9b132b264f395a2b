//! Sending queued notifications with lettre, one pass at a time.
//!
//! Each pass builds a fresh transport and drops it at the end, so a connection the server
//! (or the satellite link) closed during an outage is never reused (lettre#743: a pooled
//! connection closed by the server fails the next send). Inside a pass, lettre's pool keeps
//! one connection for the whole batch.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use parking_lot::Mutex;
use seawatch_runtime::clock::Clock;

use super::config::{EmailConfig, TlsMode};
use super::store::{Outbox, StoreError};

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Pass {
    /// Accepted by the server (and marked sent).
    pub sent: usize,
    /// Refused for good (and marked failed).
    pub failed: usize,
    /// Why the pass stopped early: the server could not be reached or answered 4xx; the
    /// rest waits for the next pass.
    pub interrupted: Option<String>,
}

/// The SMTP side: server, TLS, credentials, sender address.
pub struct Mailer {
    cfg: EmailConfig,
    from: Mailbox,
    credentials: Option<Credentials>,
    /// CA certificates from `ca_file`, as PEM.
    ca_pem: Option<Vec<u8>>,
}

impl Mailer {
    /// From a validated `[email]`; reads the password file.
    pub fn new(cfg: EmailConfig) -> Result<Self, String> {
        let from: Mailbox = cfg.from.parse().map_err(|e| format!("email.from: {e}"))?;
        let credentials = match (&cfg.user, &cfg.password_file) {
            (Some(u), Some(p)) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("email.password_file {}: {e}", p.display()))?;
                let pw = text.lines().next().unwrap_or_default().to_owned();
                Some(Credentials::new(u.clone(), pw))
            }
            _ => None,
        };
        let ca_pem = match &cfg.ca_file {
            Some(p) => {
                let pem =
                    std::fs::read(p).map_err(|e| format!("email.ca_file {}: {e}", p.display()))?;
                Certificate::from_pem(&pem)
                    .map_err(|e| format!("email.ca_file {}: {e}", p.display()))?;
                Some(pem)
            }
            None => None,
        };
        Ok(Self {
            cfg,
            from,
            credentials,
            ca_pem,
        })
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let (host, port) = self.cfg.smtp_host_port()?;
        let tls = |h: &str| {
            let mut b = TlsParameters::builder(h.to_owned());
            if let Some(pem) = &self.ca_pem {
                b = b.add_root_certificate(Certificate::from_pem(pem).map_err(|e| e.to_string())?);
            }
            b.build().map_err(|e| e.to_string())
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .timeout(Some(Duration::from_secs(20)))
            .pool_config(
                PoolConfig::new()
                    .max_size(1)
                    .idle_timeout(Duration::from_secs(30)),
            );
        b = match self.cfg.tls {
            TlsMode::None => b.tls(Tls::None),
            TlsMode::Starttls => b.tls(Tls::Required(tls(&host)?)),
            TlsMode::Tls => b.tls(Tls::Wrapper(tls(&host)?)),
        };
        if let Some(c) = &self.credentials {
            b = b.credentials(c.clone());
        }
        Ok(b.build())
    }

    /// One pass over the queue in sending order (criticals first, digests last): each notification is
    /// sent and then marked; a 5xx marks it failed; the first connection error or 4xx ends
    /// the pass (counted as an attempt on that notification).
    ///
    /// `after_outage`: the last pass could not reach the server; the non-critical backlog
    /// goes as one digest per group of recipients ([`Outbox::make_digests`]).
    pub async fn pass(
        &self,
        outbox: &Mutex<Outbox>,
        clock: &Clock,
        after_outage: bool,
    ) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        if outbox.lock().pending(clock.now_ms()).is_empty() {
            return Ok(pass);
        }
        let transport = match self.transport() {
            Ok(t) => t,
            Err(e) => {
                pass.interrupted = Some(e);
                return Ok(pass);
            }
        };
        if after_outage {
            // Digests are made once the server answers, not on every failed retry: one
            // digest per group of recipients for the whole outage.
            let error = match transport.test_connection().await {
                Ok(true) => None,
                Ok(false) => Some("the SMTP server did not answer NOOP".to_owned()),
                Err(e) => Some(e.to_string()),
            };
            let mut o = outbox.lock();
            match error {
                None => {
                    o.make_digests(clock.now_ms())?;
                }
                Some(error) => {
                    // Counted on the first in line, as a failed send would be.
                    if let Some(first) = o.pending(clock.now_ms()).first() {
                        o.note_attempt(&first.message_id, clock.now_ms(), &error)?;
                    }
                    pass.interrupted = Some(error);
                    return Ok(pass);
                }
            }
        }
        let pending = outbox.lock().pending(clock.now_ms());
        for n in pending {
            let message = match n.render(&self.from) {
                Ok(m) => m,
                Err(e) => {
                    outbox
                        .lock()
                        .mark_failed(&n.message_id, clock.now_ms(), &e)?;
                    pass.failed += 1;
                    continue;
                }
            };
            match transport.send(message).await {
                Ok(_) => {
                    outbox.lock().mark_sent(&n.message_id, clock.now_ms())?;
                    pass.sent += 1;
                }
                // Authentication refused (530, 534, 535, 538) is the node's configuration,
                // not the message: the pass stops and every notice waits, as in an outage.
                Err(e)
                    if e.status().is_some_and(|c| {
                        matches!(c.to_string().as_str(), "530" | "534" | "535" | "538")
                    }) =>
                {
                    let error = format!("authentication refused: {e}");
                    tracing::error!(error = %error, "mail server refused seawatch's credentials (email.user, email.password_file)");
                    outbox
                        .lock()
                        .note_attempt(&n.message_id, clock.now_ms(), &error)?;
                    pass.interrupted = Some(error);
                    break;
                }
                Err(e) if e.is_permanent() => {
                    tracing::warn!(message_id = %n.message_id, error = %e, "mail refused for good");
                    outbox
                        .lock()
                        .mark_failed(&n.message_id, clock.now_ms(), &e.to_string())?;
                    pass.failed += 1;
                }
                Err(e) => {
                    let error = e.to_string();
                    outbox
                        .lock()
                        .note_attempt(&n.message_id, clock.now_ms(), &error)?;
                    pass.interrupted = Some(error);
                    break;
                }
            }
        }
        Ok(pass)
    }
}
