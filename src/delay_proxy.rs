//! A TCP proxy on loopback that holds every byte from the client for a fixed time before passing
//! it on (a link with a known one-way delay), and passes replies back at once: what it adds to a
//! request is known exactly, so a test can look for it in the path time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;

/// Starts the proxy in front of `upstream`; returns its port. Its threads end with the process
/// (a test's), or when either side closes a connection.
pub fn start(upstream: SocketAddr, delay: Duration) -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                std::thread::spawn(move || delayed_copy(client, server, delay));
                std::thread::spawn(move || {
                    let (mut from, mut to) = (s, c);
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    Ok(port)
}

/// Each chunk read goes out `delay` after it was read, in order: a request split over several
/// reads is delayed once, not once per read.
fn delayed_copy(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (read_at, chunk) in rx {
            std::thread::sleep((read_at + delay).saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Both);
    });
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.join();
}
