//! A real SMTP server for tests: aiosmtpd (PyPI, in a cache venv) started by
//! `deploy/scripts/smtp-test-server.sh` on a loopback port, in its own directory. Every
//! message it accepts is a file under `DIR/maildir/new/`; [`Managed::set_mode`] makes it
//! refuse or drop connections, fail DATA temporarily, or keep a message and drop the
//! connection before its reply.

use std::path::{Path, PathBuf};

use crate::{deploy_dir, free_port};

/// The project's script that installs and runs throwaway SMTP servers.
pub fn script() -> PathBuf {
    deploy_dir().join("scripts/smtp-test-server.sh")
}

/// How the server treats the next connections (see `deploy/smtp/test_smtp_server.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Takes every message.
    Accept,
    /// Answers each new connection with 421 and closes it.
    Refuse,
    /// Closes each new connection without a greeting.
    Drop,
    /// Answers DATA with 451; nothing is kept.
    TempFail,
    /// Keeps the message, then closes the connection before the 250 reply.
    DropAfterData,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Accept => "accept",
            Mode::Refuse => "refuse",
            Mode::Drop => "drop",
            Mode::TempFail => "tempfail",
            Mode::DropAfterData => "drop-after-data",
        }
    }
}

/// One message the server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope recipients (RCPT TO).
    pub rcpt_to: Vec<String>,
    /// Header fields in order, names as sent, values unfolded and trimmed.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line that ends the header.
    pub body: String,
    /// The message as received (without the envelope line).
    pub raw: String,
}

impl Received {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses one stored file (its first line is `X-Test-Rcpt-To:`).
    pub fn parse(file: &str) -> Received {
        let file = file.replace("\r\n", "\n");
        let (rcpt, raw) = match file.split_once('\n') {
            Some((first, rest)) if first.starts_with("X-Test-Rcpt-To:") => (
                first["X-Test-Rcpt-To:".len()..]
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect(),
                rest.to_owned(),
            ),
            _ => (Vec::new(), file.clone()),
        };
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, v)) = headers.last_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
            } else if let Some((n, v)) = line.split_once(':') {
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
        }
        Received {
            rcpt_to: rcpt,
            headers,
            body: body.to_owned(),
            raw,
        }
    }
}

/// A server started by the script in its own directory; stopped on drop.
pub struct Managed {
    dir: tempfile::TempDir,
    port: u16,
    /// `none`, `starttls` or `tls` (`SMTP_TLS` of the script).
    tls: String,
    /// `user:password` the server requires, or empty (`SMTP_AUTH`).
    auth: String,
}

impl Managed {
    /// Runs the script's `cmd` with extra arguments; its last stdout line.
    pub fn run(&self, cmd: &str, args: &[&str]) -> Result<String, String> {
        crate::run_script(
            &script(),
            cmd,
            self.dir.path(),
            args,
            &[
                ("SMTP_PORT", self.port.to_string()),
                ("SMTP_TLS", self.tls.clone()),
                ("SMTP_AUTH", self.auth.clone()),
            ],
        )
    }

    /// Starts a server on a fresh loopback port (installing aiosmtpd if missing).
    pub fn start() -> Result<Self, String> {
        Self::start_with("none", "")
    }

    /// Starts a server that speaks `tls` (`none`, `starttls`: required before MAIL, or
    /// `tls`: from the first byte, with a certificate signed by [`Managed::ca_file`]) and,
    /// unless `auth` is empty, requires AUTH with `user:password`.
    pub fn start_with(tls: &str, auth: &str) -> Result<Self, String> {
        let m = Managed {
            dir: tempfile::tempdir().map_err(|e| e.to_string())?,
            port: free_port(),
            tls: tls.to_owned(),
            auth: auth.to_owned(),
        };
        m.run("start", &[])?;
        Ok(m)
    }

    /// The CA certificate (PEM) that signed a TLS server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Its `host:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its directory (the maildir is under it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Switches how the next connections are treated.
    pub fn set_mode(&self, mode: Mode) -> Result<(), String> {
        self.run("mode", &[mode.arg()]).map(drop)
    }

    /// Stops the server (SIGTERM); [`Managed::restart`] brings it back on the same port.
    pub fn stop(&self) -> Result<(), String> {
        self.run("stop", &[]).map(drop)
    }

    /// Starts it again after [`Managed::stop`], same port and maildir.
    pub fn restart(&self) -> Result<(), String> {
        self.run("start", &[]).map(drop)
    }

    /// Every message received so far, in the order they were stored.
    pub fn messages(&self) -> Vec<Received> {
        let new = self.dir.path().join("maildir/new");
        let mut names: Vec<PathBuf> = match std::fs::read_dir(&new) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => return Vec::new(),
        };
        names.sort();
        names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| Received::parse(&s))
            .collect()
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        let _ = self.run("stop", &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::Received;

    #[test]
    fn parses_envelope_headers_and_folded_lines() {
        let m = Received::parse(
            "X-Test-Rcpt-To: a@x, b@y\r\nMessage-ID: <1@s>\r\nReferences: <0@s>\r\n <1@s>\r\nSubject: hi\r\n\r\nbody\r\n",
        );
        assert_eq!(m.rcpt_to, ["a@x", "b@y"]);
        assert_eq!(m.header("message-id"), Some("<1@s>"));
        assert_eq!(m.header("References"), Some("<0@s> <1@s>"));
        assert_eq!(m.body, "body\n");
    }
}
