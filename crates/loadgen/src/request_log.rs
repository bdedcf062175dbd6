//! hey's per-request CSV (`-o csv`), streamed as requests finish rather than kept: one row per
//! measured request that got a response (any status, as hey), in hey's columns and number
//! format. Requests with no response (refused, timed out) have no row, as in hey; they are in
//! the summary's error distribution.
//!
//! A row is formatted straight into one shared buffered writer (no allocation per request);
//! the lock is only taken when the log exists. A write error stops the log (the run goes on)
//! and is reported by [`RequestLog::finish`].

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::recorder::Sample;

/// hey's header line.
pub const HEY_CSV_HEADER: &str =
    "response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset";

struct Sink {
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    failed: Option<std::io::Error>,
}

/// Where the rows go.
pub struct RequestLog {
    sink: Mutex<Sink>,
}

impl RequestLog {
    /// A log writing hey's header to `out` now and rows as requests finish.
    pub fn hey_csv(out: Box<dyn Write + Send>) -> RequestLog {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
        let failed = out.write_all(HEY_CSV_HEADER.as_bytes()).err();
        RequestLog {
            sink: Mutex::new(Sink { out, failed }),
        }
    }

    /// One row for `sample` (none without a response); `start` is the run's start, the offset's
    /// zero.
    pub(crate) fn write(&self, sample: &Sample, start: Instant) {
        let (Some(trace), Some(status)) = (&sample.trace, sample.status) else {
            return;
        };
        let secs = Duration::as_secs_f64;
        let p = &trace.phases;
        let mut sink = self.sink.lock().expect("request log");
        if sink.failed.is_some() {
            return;
        }
        // hey's layout: a newline before each row (the header has none after it).
        let row = write!(
            sink.out,
            "\n{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{status},{:.4}",
            secs(&sample.uncorrected),
            secs(&p.dialup),
            secs(&p.dns),
            p.write.as_ref().map_or(0.0, secs),
            secs(&p.wait),
            secs(&p.read),
            secs(&trace.sent.saturating_duration_since(start)),
        );
        sink.failed = row.err();
    }

    /// Flushes the rows (with hey's final newline); the first write error, if any.
    pub fn finish(&self) -> std::io::Result<()> {
        let mut sink = self.sink.lock().expect("request log");
        if let Some(e) = sink.failed.take() {
            return Err(e);
        }
        sink.out.write_all(b"\n")?;
        sink.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phases::Phases;
    use crate::recorder::Trace;
    use std::sync::Arc;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn sample(status: Option<u16>, sent: Instant) -> Sample {
        let ms = Duration::from_millis;
        Sample {
            corrected: ms(12),
            uncorrected: ms(10),
            ttfb: None,
            status,
            bytes: 0,
            error: None,
            backend: None,
            trace: status.map(|_| Trace {
                sent,
                phases: Phases {
                    dns: ms(1),
                    dialup: ms(2),
                    write: None,
                    wait: ms(7),
                    read: ms(1),
                },
            }),
        }
    }

    #[test]
    fn rows_are_heys_columns_and_requests_without_a_response_have_none() {
        let out = Shared::default();
        let log = RequestLog::hey_csv(Box::new(out.clone()));
        let start = Instant::now();
        log.write(
            &sample(Some(503), start + Duration::from_millis(1500)),
            start,
        );
        log.write(&sample(None, start), start);
        log.finish().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            format!("{HEY_CSV_HEADER}\n0.0100,0.0020,0.0010,0.0000,0.0070,0.0010,503,1.5000\n")
        );
    }
}
