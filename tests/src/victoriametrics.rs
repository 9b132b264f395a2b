//! A real VictoriaMetrics for tests: started by
//! `deploy/scripts/victoriametrics-test-server.sh` (Debian's `victoria-metrics`, installed
//! if missing) in its own directory and port. Deduplication stays off, so a sample written
//! twice is stored twice and a test can see it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use crate::{deploy_dir, free_port};

/// The project's script that installs and runs throwaway VictoriaMetrics servers.
pub fn script() -> PathBuf {
    deploy_dir().join("scripts/victoriametrics-test-server.sh")
}

/// A server started by the script in its own directory; stopped on drop.
pub struct Managed {
    dir: tempfile::TempDir,
    port: u16,
}

impl Managed {
    /// Runs the script's `cmd` (start, stop, kill, ...) on this server; its last stdout line.
    pub fn run(&self, cmd: &str) -> Result<String, String> {
        crate::run_script(
            &script(),
            cmd,
            self.dir.path(),
            &[],
            &[("VM_HTTP_PORT", self.port.to_string())],
        )
    }

    /// Starts a server on a fresh loopback port; it and its base URL.
    pub fn start() -> Result<(Self, String), String> {
        let m = Managed {
            dir: tempfile::tempdir().map_err(|e| e.to_string())?,
            port: free_port(),
        };
        let url = m.run("start")?;
        Ok((m, url))
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every raw sample of the series matching `selector`, after a flush: series (labels
    /// as `k=v` pairs in name order, joined by `,`) → timestamp → how many times stored.
    pub fn samples(&self, selector: &str) -> Result<BTreeMap<String, BTreeMap<i64, u32>>, String> {
        let base = self.url();
        curl(&["-fsS", &format!("{base}/internal/force_flush")])?;
        let out = curl(&[
            "-fsS",
            &format!("{base}/api/v1/export"),
            "--data-urlencode",
            &format!("match[]={selector}"),
        ])?;
        let mut map: BTreeMap<String, BTreeMap<i64, u32>> = BTreeMap::new();
        for line in out.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("export line {line:.80}: {e}"))?;
            let labels = v["metric"]
                .as_object()
                .ok_or("export line without metric")?
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",");
            let series = map.entry(labels).or_default();
            for t in v["timestamps"]
                .as_array()
                .ok_or("export line without timestamps")?
            {
                *series
                    .entry(t.as_i64().ok_or("bad timestamp")?)
                    .or_default() += 1;
            }
        }
        Ok(map)
    }

    /// Every raw sample with its value of the series matching `selector`, after a flush
    /// and bypassing caches (`nocache=1`): series (labels `k=v` joined by `,`) →
    /// (timestamp, value) in the server's order.
    pub fn values(&self, selector: &str) -> Result<BTreeMap<String, Vec<(i64, f64)>>, String> {
        let base = self.url();
        curl(&["-fsS", &format!("{base}/internal/force_flush")])?;
        let out = curl(&[
            "-fsS",
            &format!("{base}/api/v1/export?nocache=1"),
            "--data-urlencode",
            &format!("match[]={selector}"),
        ])?;
        let mut map: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        for line in out.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("export line {line:.80}: {e}"))?;
            let labels = v["metric"]
                .as_object()
                .ok_or("export line without metric")?
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",");
            let ts = v["timestamps"].as_array().ok_or("no timestamps")?;
            let vs = v["values"].as_array().ok_or("no values")?;
            let series = map.entry(labels).or_default();
            for (t, x) in ts.iter().zip(vs) {
                let x = x
                    .as_f64()
                    .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                    .ok_or("bad value")?;
                series.push((t.as_i64().ok_or("bad timestamp")?, x));
            }
        }
        Ok(map)
    }
}

fn curl(args: &[&str]) -> Result<String, String> {
    let out = Command::new("curl")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Drop for Managed {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}
