//! Waiting for a service to answer on its health URL, the same way in both runtimes: a spinner
//! while waiting, and the service's last log lines when it dies or runs out of time.

use std::time::{Duration, Instant};

use crate::StackError;

/// Log lines shown when a service fails to come up.
pub const FAILURE_LOG_LINES: usize = 20;

/// Polls `url` until it answers 2xx. `exited` tells whether the service has died (then waiting
/// is pointless); `last_lines` fetches its log tail for the error message.
pub async fn wait_healthy(
    name: &str,
    url: &str,
    within: Duration,
    exited: impl AsyncFn() -> bool,
    last_lines: impl AsyncFn() -> String,
) -> Result<(), StackError> {
    let bar =
        indicatif::ProgressBar::new_spinner().with_message(format!("waiting for {name} ({url})"));
    bar.enable_steady_tick(Duration::from_millis(200));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client");
    let start = Instant::now();
    let result = loop {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break Ok(());
        }
        if exited().await {
            break Err(StackError::Infrastructure(format!(
                "{name} exited during start-up; its last log lines:\n{}",
                last_lines().await
            )));
        }
        if start.elapsed() > within {
            break Err(StackError::Infrastructure(format!(
                "{name} not healthy at {url} after {within:?}; its last log lines:\n{}",
                last_lines().await
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    bar.finish_and_clear();
    result
}

/// The client status rows probe health endpoints with (a short timeout: a row, not a wait).
pub fn probe_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("HTTP client")
}

/// What a status row says about a running service's health endpoint.
pub async fn probe(client: &reqwest::Client, url: &str) -> String {
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => "healthy".into(),
        Ok(r) => format!("HTTP {}", r.status().as_u16()),
        Err(_) => "unreachable".into(),
    }
}
