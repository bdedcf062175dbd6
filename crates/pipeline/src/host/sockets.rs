//! The host's TCP sockets by state — what `ss -s` prints, which the seed has users watch during
//! a test — read from `/proc/net` of this process's network namespace (the generator's, and on
//! the local stack every service's): the states counted line by line from `tcp` and `tcp6`,
//! orphans, allocated, in use and memory from `sockstat` and `sockstat6`. And the kernel limits
//! a run's TIME_WAIT and orphans are judged against.

use std::path::Path;

use report::{SocketLimits, SocketStates};

use super::HostPaths;

/// `/proc/net/tcp`'s `st` column (the kernel's `TCP_*` states, `include/net/tcp_states.h`).
const ESTABLISHED: u8 = 0x01;
const SYN_SENT: u8 = 0x02;
const SYN_RECV: u8 = 0x03;
const FIN_WAIT1: u8 = 0x04;
const FIN_WAIT2: u8 = 0x05;
const TIME_WAIT: u8 = 0x06;
const CLOSE: u8 = 0x07;
const CLOSE_WAIT: u8 = 0x08;
const LAST_ACK: u8 = 0x09;
const LISTEN: u8 = 0x0A;
const CLOSING: u8 = 0x0B;

/// Reads the sockets now. An error when `sockstat` or `tcp` cannot be read or parsed; the IPv6
/// files are absent on a kernel without IPv6, which counts as none.
pub fn read(proc_net: &Path) -> Result<SocketStates, String> {
    let file = |name: &str| std::fs::read_to_string(proc_net.join(name));
    let required = |name: &str| {
        file(name).map_err(|e| format!("cannot read {}: {e}", proc_net.join(name).display()))
    };
    let optional = |name: &str| file(name).unwrap_or_default();
    let mut states = SocketStates::default();
    count_states(&required("tcp")?, &mut states)?;
    count_states(&optional("tcp6"), &mut states)?;
    let v4 =
        sockstat_line(&required("sockstat")?, "TCP").ok_or("/proc/net/sockstat has no TCP line")?;
    let v6 = sockstat_line(&optional("sockstat6"), "TCP6");
    let field =
        |line: &[(String, u64)], key: &str| line.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    states.orphaned = field(&v4, "orphan").unwrap_or(0);
    states.allocated = field(&v4, "alloc").unwrap_or(0);
    states.memory_pages = field(&v4, "mem").unwrap_or(0);
    states.in_use =
        field(&v4, "inuse").unwrap_or(0) + v6.and_then(|l| field(&l, "inuse")).unwrap_or(0);
    Ok(states)
}

/// Adds each socket of a `/proc/net/tcp`-format table (a header line, then one socket a line,
/// its state the fourth field, in hex) to its state's count.
fn count_states(table: &str, states: &mut SocketStates) -> Result<(), String> {
    for line in table.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let field = line.split_whitespace().nth(3).unwrap_or_default();
        let state = u8::from_str_radix(field, 16)
            .map_err(|_| format!("a TCP socket line without a state: {line:?}"))?;
        let count = match state {
            ESTABLISHED => &mut states.established,
            SYN_SENT => &mut states.syn_sent,
            SYN_RECV => &mut states.syn_recv,
            FIN_WAIT1 | FIN_WAIT2 => &mut states.fin_wait,
            TIME_WAIT => &mut states.time_wait,
            CLOSE_WAIT => &mut states.close_wait,
            CLOSE | LAST_ACK | CLOSING => &mut states.closing,
            LISTEN => &mut states.listen,
            // A state a newer kernel added: counted, not lost, and no reason to stop sampling.
            _ => &mut states.other,
        };
        *count += 1;
    }
    Ok(())
}

/// The `name:` line of a sockstat file as its key-value pairs (`TCP: inuse 1 orphan 0 …`).
fn sockstat_line(text: &str, name: &str) -> Option<Vec<(String, u64)>> {
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    Some(
        words
            .chunks(2)
            .filter_map(|pair| Some((pair[0].to_string(), pair.get(1)?.parse().ok()?)))
            .collect(),
    )
}

/// The kernel's limits on TIME_WAIT sockets, ephemeral ports and orphans, as this host has them.
pub fn limits(paths: &HostPaths) -> SocketLimits {
    let number = |name: &str| paths.read(name).and_then(|v| v.parse().ok());
    SocketLimits {
        max_time_wait: number("net.ipv4.tcp_max_tw_buckets"),
        ephemeral_ports: paths
            .port_range()
            .map(|(low, high)| high.saturating_sub(low) + 1),
        max_orphans: number("net.ipv4.tcp_max_orphans"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As this machine's kernel (6.x) writes them: a listener, both ends of a loopback
    /// connection, one in TIME_WAIT (its short line) and one in CLOSE_WAIT; IPv6 the same way.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 0100007F:C943 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1462983 1 000000002a600e90 100 0 0 10 0                   
   1: 0100007F:C943 0100007F:AA18 01 00000000:00000000 00:00000000 00000000     0        0 1462985 1 000000000beabcdc 20 0 0 10 -1                   
   2: 0100007F:AA18 0100007F:C943 01 00000000:00000000 00:00000000 00000000     0        0 1462984 2 0000000088b20c65 20 0 0 10 -1                   
   3: 0100007F:AA24 0100007F:C943 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000                                      
   4: 0100007F:C943 0100007F:AA26 08 00000000:00000001 00:00000000 00000000     0        0 1462988 1 000000008114bbd9 20 4 30 10 -1                  
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:B4AF 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1466401 1 000000001a2297de 100 0 0 10 0
   1: 00000000000000000000000001000000:B91A 00000000000000000000000001000000:B4AF 01 00000000:00000000 00:00000000 00000000     0        0 1466402 2 000000002a7937e5 20 0 0 10 -1
";
    const SOCKSTAT: &str = "sockets: used 32
TCP: inuse 22 orphan 3 tw 1 alloc 24 mem 7
UDP: inuse 0 mem 0
UDPLITE: inuse 0
RAW: inuse 0
FRAG: inuse 0 memory 0
";
    const SOCKSTAT6: &str =
        "TCP6: inuse 3\nUDP6: inuse 0\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n";

    fn proc_net(tag: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mcpbench-net-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn states_are_counted_from_both_tables_and_the_rest_read_from_sockstat() {
        let dir = proc_net(
            "full",
            &[
                ("tcp", TCP),
                ("tcp6", TCP6),
                ("sockstat", SOCKSTAT),
                ("sockstat6", SOCKSTAT6),
            ],
        );
        let states = read(&dir).unwrap();
        assert_eq!(
            states,
            SocketStates {
                established: 3,
                time_wait: 1,
                close_wait: 1,
                listen: 2,
                orphaned: 3,
                allocated: 24,
                in_use: 25,
                memory_pages: 7,
                ..SocketStates::default()
            }
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_kernel_without_ipv6_has_none_a_new_state_is_other_and_a_broken_table_an_error() {
        let dir = proc_net("v4", &[("tcp", TCP), ("sockstat", SOCKSTAT)]);
        let states = read(&dir).unwrap();
        assert_eq!((states.established, states.in_use), (2, 22));
        std::fs::write(dir.join("tcp6"), format!("{TCP6}   2: garbage\n")).unwrap();
        assert!(read(&dir).unwrap_err().contains("garbage"));
        std::fs::write(dir.join("tcp6"), TCP6.replace(" 01 ", " 0D ")).unwrap();
        let newer = read(&dir).unwrap();
        assert_eq!((newer.established, newer.other), (2, 1), "{newer:?}");
        std::fs::remove_file(dir.join("sockstat")).unwrap();
        assert!(read(&dir).unwrap_err().contains("sockstat"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_limits_are_the_hosts_own() {
        let dir = proc_net("limits", &[]);
        let sys = dir.join("sys");
        for (name, value) in [
            ("net/ipv4/tcp_max_tw_buckets", "131072\n"),
            ("net/ipv4/tcp_max_orphans", "65536\n"),
            ("net/ipv4/ip_local_port_range", "32768\t60999\n"),
        ] {
            std::fs::create_dir_all(sys.join(name).parent().unwrap()).unwrap();
            std::fs::write(sys.join(name), value).unwrap();
        }
        let paths = HostPaths {
            proc_sys: sys,
            ..HostPaths::default()
        };
        assert_eq!(
            limits(&paths),
            SocketLimits {
                max_time_wait: Some(131_072),
                ephemeral_ports: Some(28_232),
                max_orphans: Some(65_536),
            }
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// This machine's real `/proc`: N loopback connections held open show up as at least N more
    /// established sockets (both ends count, so 2N are expected; the slack is for other
    /// processes of this namespace closing theirs meanwhile).
    #[test]
    fn loopback_connections_held_open_raise_the_hosts_established_count() {
        const N: u64 = 20;
        let proc_net = HostPaths::default().proc_net;
        let before = read(&proc_net).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let held: Vec<_> = (0..N)
            .map(|_| {
                let client = std::net::TcpStream::connect(address).unwrap();
                let (server, _) = listener.accept().unwrap();
                (client, server)
            })
            .collect();
        let during = read(&proc_net).unwrap();
        assert!(
            during.established >= before.established + N,
            "{N} connections held: established {} → {}",
            before.established,
            during.established
        );
        assert!(during.listen > 0 && during.allocated >= 2 * N && during.in_use >= 2 * N);
        drop(held);
    }
}
