//! A headless Chromium for the console tests: Debian's `chromium` and `chromium-driver`
//! driven over WebDriver with fantoccini, and the steps every browser test takes (sign in,
//! read an element's text, click), each retried against a live page that re-renders.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use super::free_port;

/// How long a step waits for the page.
pub const WAIT: Duration = Duration::from_secs(20);

/// chromedriver in its own process group, so that dropping it (also when the test panics)
/// takes the Chromium processes it started down with it instead of leaving them running.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn start_browser() -> Result<(Driver, Client), String> {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or("chromium not installed (Debian package chromium)")?;
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(Driver)
        .map_err(|e| format!("chromedriver: {e} (Debian package chromium-driver)"))?;
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1366,768", "--no-first-run"]
        }
    }))
    .unwrap();
    // chromedriver takes a moment to listen: retry the session until a deadline.
    let deadline = Instant::now() + WAIT;
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return Ok((driver, c)),
            Err(e) if Instant::now() > deadline => return Err(format!("webdriver session: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

pub async fn sign_in(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/#/login")).await.unwrap();
    let form = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#user"))
        .await
        .unwrap();
    form.clear().await.unwrap();
    form.send_keys(user).await.unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("#login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Signed in and the WebSocket is live.
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#live.on"))
        .await
        .unwrap();
}

/// The text of the element at `css`, found afresh on every try (a live page re-renders).
pub async fn text_of(c: &Client, css: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await,
            Err(e) => Err(e),
        };
        match r {
            Ok(t) => return t,
            Err(e) if Instant::now() > deadline => panic!("{css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Clicks the element at `css`, found afresh on every try (a live page re-renders, so an
/// element found a moment ago may be stale).
pub async fn click(c: &Client, css: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = match c.find(Locator::Css(css)).await {
            Ok(e) => e.click().await,
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
