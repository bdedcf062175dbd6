//! Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
//! commands on the browser's fd 3, replies on its fd 4, each message JSON ended by a NUL), so the
//! browser tests click, type and read a real page with nothing but the standard library.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::harness::{which, ChildGuard};

/// Chromium, installed when absent where that is allowed (see the provision crate). Never a
/// silent skip: a missing browser fails the test with the one line that says what to install.
pub fn chromium() -> PathBuf {
    if let Err(missing) = provision::ensure(&[provision::Piece::Chromium]) {
        panic!("{missing}");
    }
    which("chromium")
        .or_else(|| which("chromium-browser"))
        .expect("chromium was installed, yet is not found")
}

/// A running headless browser with one page attached.
pub struct Browser {
    // Dropped last: the pipes close first, then the browser is killed.
    commands: std::io::PipeWriter,
    replies: BufReader<std::io::PipeReader>,
    session: String,
    next_id: u64,
    _child: ChildGuard,
}

impl Browser {
    /// Starts Chromium with its profile in `profile` and opens `url` in a page.
    pub fn open(chromium: &Path, profile: &Path, url: &str) -> Result<Browser> {
        let (their_commands, commands) = std::io::pipe()?;
        let (replies, their_replies) = std::io::pipe()?;
        let (read_fd, write_fd) = (their_commands.as_raw_fd(), their_replies.as_raw_fd());
        let mut command = Command::new(chromium);
        command
            .args(["--headless", "--no-sandbox", "--disable-gpu"])
            .args([
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--no-first-run",
            ])
            .args(["--remote-debugging-pipe", "--window-size=1280,1600"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec only async-signal-safe calls (fcntl, dup2) are made.
        unsafe {
            command.pre_exec(move || {
                // Above the low descriptors first, so moving one onto 3 or 4 cannot close the other.
                let high_read = libc::fcntl(read_fd, libc::F_DUPFD, 10);
                let high_write = libc::fcntl(write_fd, libc::F_DUPFD, 10);
                if high_read < 0
                    || high_write < 0
                    || libc::dup2(high_read, 3) < 0
                    || libc::dup2(high_write, 4) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = ChildGuard::spawn(&mut command)?;
        drop((their_commands, their_replies));
        let mut browser = Browser {
            commands,
            replies: BufReader::new(replies),
            session: String::new(),
            next_id: 0,
            _child: child,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}))?;
        let target_id = target["targetId"]
            .as_str()
            .context("no target id")?
            .to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        )?;
        browser.session = attached["sessionId"]
            .as_str()
            .context("no session id")?
            .to_string();
        browser.call("Page.enable", json!({}))?;
        browser.call("Page.navigate", json!({"url": url}))?;
        Ok(browser)
    }

    /// One protocol command (on the page once attached); its result, or its error.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message)?;
        bytes.push(0);
        self.commands.write_all(&bytes)?;
        loop {
            let mut reply = Vec::new();
            if self.replies.read_until(0, &mut reply)? == 0 {
                bail!("the browser closed its pipe during {method}");
            }
            reply.pop();
            let reply: Value = serde_json::from_slice(&reply)?;
            if reply["id"] == json!(id) {
                if let Some(error) = reply.get("error") {
                    bail!("{method}: {error}");
                }
                return Ok(reply["result"].clone());
            }
        }
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub fn eval(&mut self, expression: &str) -> Result<Value> {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(thrown) = result.get("exceptionDetails") {
            bail!("{expression}: {thrown}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Evaluates `expression` until it is truthy, within `within`; its last value.
    pub fn wait_for(&mut self, expression: &str, within: Duration) -> Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let value = self.eval(expression).unwrap_or(Value::Null);
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(anyhow!("not true within {within:?}: {expression}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sets a form field as a person would (its input and change events fire).
    pub fn fill(&mut self, id: &str, value: &str) -> Result<()> {
        let script = format!(
            "(() => {{ const e = document.getElementById({id}); e.focus(); e.value = {value};
              e.dispatchEvent(new Event('input', {{bubbles: true}}));
              e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()",
            id = json!(id),
            value = json!(value)
        );
        self.eval(&script).map(drop)
    }

    /// Clicks the element with `id`.
    pub fn click(&mut self, id: &str) -> Result<()> {
        self.eval(&format!(
            "document.getElementById({}).click(), true",
            json!(id)
        ))
        .map(drop)
    }

    /// Lets the page save downloads into `dir`.
    pub fn allow_downloads(&mut self, dir: &Path) -> Result<()> {
        let session = std::mem::take(&mut self.session);
        let result = self.call(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": dir.display().to_string()}),
        );
        self.session = session;
        result.map(drop)
    }

    /// A PNG of the page as it is now.
    pub fn screenshot(&mut self, path: &Path) -> Result<()> {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        )?;
        let data = shot["data"].as_str().context("no screenshot data")?;
        let png = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data)?;
        std::fs::write(path, png)?;
        Ok(())
    }
}
