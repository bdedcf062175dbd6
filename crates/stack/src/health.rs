//! Waiting for a service to answer, the same way in both runtimes: a spinner while waiting, and
//! the service's last log lines when it dies or runs out of time. A service's health URL says how
//! to ask it: `http://` is a GET that must answer 2xx; `postgresql://` and `redis://` speak just
//! enough of their protocols to tell a server that takes requests from one still starting.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::StackError;

/// Log lines shown when a service fails to come up.
pub const FAILURE_LOG_LINES: usize = 20;

/// How long one look at a service may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Polls `url` until the service answers it. `exited` tells whether the service has died (then
/// waiting is pointless); `last_lines` fetches its log tail for the error message.
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
    let client = probe_client();
    let start = Instant::now();
    let result = loop {
        if answers(&client, url).await.is_ok() {
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

/// The client status rows and waits probe HTTP health endpoints with.
pub fn probe_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .build()
        .expect("HTTP client")
}

/// What a status row says about a running service's health.
pub async fn probe(client: &reqwest::Client, url: &str) -> String {
    match answers(client, url).await {
        Ok(()) => "healthy".into(),
        Err(why) => why,
    }
}

/// Whether the service at `url` takes requests; else what it said instead.
async fn answers(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let speaks = |scheme: &str| {
        url.strip_prefix(scheme)
            .map(|rest| rest.trim_end_matches('/'))
    };
    let reply = if let Some(address) = speaks("postgresql://") {
        exchange(address, &postgres_startup()).await
    } else if let Some(address) = speaks("redis://") {
        exchange(address, b"PING\r\n").await
    } else {
        return match client.get(url).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
            Err(_) => Err("unreachable".into()),
        };
    };
    let reply = reply.map_err(|_| "unreachable".to_string())?;
    judge(url, &reply)
}

/// What a database or cache server's first bytes mean.
fn judge(url: &str, reply: &[u8]) -> Result<(), String> {
    let ready = if url.starts_with("postgresql://") {
        // 'R': it asks the client to authenticate, so it takes connections; 'E' is an error such
        // as "the database system is starting up".
        reply.first() == Some(&b'R')
    } else {
        // PONG, or a demand for the password: either way it serves commands (not "-LOADING").
        reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH")
    };
    if ready {
        Ok(())
    } else {
        Err("starting".into())
    }
}

/// PostgreSQL's startup message (protocol 3.0) for a user that need not exist: a server that is
/// up answers with an authentication request or an error, one still starting with an error.
fn postgres_startup() -> Vec<u8> {
    let mut body = 196_608_u32.to_be_bytes().to_vec();
    for part in ["user", "mcpbench-health", "database", "postgres"] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = u32::try_from(body.len() + 4)
        .expect("a short message")
        .to_be_bytes()
        .to_vec();
    message.extend(body);
    message
}

/// Sends `request` to `address` (host:port) and returns the first bytes of the answer.
async fn exchange(address: &str, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let talk = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream.write_all(request).await?;
        let mut reply = vec![0u8; 64];
        let n = stream.read(&mut reply).await?;
        reply.truncate(n);
        Ok(reply)
    };
    tokio::time::timeout(PROBE_TIMEOUT, talk)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_is_ready_when_it_asks_for_a_password_and_a_cache_when_it_answers() {
        assert!(judge("postgresql://127.0.0.1:1", b"R\0\0\0\x0c").is_ok());
        assert!(judge("postgresql://127.0.0.1:1", b"E\0\0\0\x50SFATAL").is_err());
        assert!(judge("redis://127.0.0.1:1", b"+PONG\r\n").is_ok());
        assert!(judge(
            "redis://127.0.0.1:1",
            b"-NOAUTH Authentication required.\r\n"
        )
        .is_ok());
        assert!(judge("redis://127.0.0.1:1", b"-LOADING Redis is loading\r\n").is_err());
    }

    #[test]
    fn the_startup_message_counts_its_own_length() {
        let message = postgres_startup();
        let length = u32::from_be_bytes(message[..4].try_into().unwrap());
        assert_eq!(length as usize, message.len());
        assert!(message.ends_with(b"postgres\0\0"));
    }
}
