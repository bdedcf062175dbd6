//! The stdio transport: newline-delimited JSON-RPC on stdin, responses on stdout (logs go to
//! stderr). Messages are handled concurrently, as a client may pipeline them.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::mcp::{Era, Reply, Server};

/// Serves until stdin closes (then answers what is in flight) or `shutdown` resolves.
pub async fn serve(
    server: Server,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let server = Arc::new(server);
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(mut line) = rx.recv().await {
            line.push(b'\n');
            out.write_all(&line).await?;
            out.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    tokio::pin!(shutdown);
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line?,
            () = &mut shutdown => break,
        };
        let Some(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let (server, tx) = (Arc::clone(&server), tx.clone());
        tokio::spawn(async move {
            let (reply, _) = server
                .handle_body(line.as_bytes(), Era::Session, std::time::Instant::now())
                .await;
            if let Reply::Message(bytes) | Reply::Malformed(bytes) = reply {
                let _ = tx.send(bytes);
            }
        });
    }
    drop(tx);
    writer.await.expect("stdout writer task")
}
