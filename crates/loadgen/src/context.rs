//! What the users of a run share. The [`Wire`] — everything a request needs that does not change
//! between requests (origins, request targets, step slots, TLS, the secrets to scrub) — exists
//! before discovery, which uses it; the [`RunContext`] is built on it once discovery is done and
//! the measured window is known: catalogs, user classes, the recorder, the ledger, the request
//! budget and the run's phase.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::Uri;

use crate::client::{HttpOptions, Origin, Tls};
use crate::discovery::Catalog;
use crate::plan::{Plan, Wait};
use crate::recorder::{Recorder, Sample};
use crate::scenario::{Scenario, Step, CAPTURED_PLACEHOLDER, SESSION_DELETE_OP, SESSION_SETUP_OP};
use crate::schedule::Ledger;

/// A step's fixed parts, computed once per run rather than per request.
pub(crate) struct StepSlot {
    pub origin: usize,
    pub op: usize,
    pub uri: Uri,
    /// The request target around a [`CAPTURED_PLACEHOLDER`] in the path: sent as
    /// prefix + captured value + suffix.
    pub captured_target: Option<(String, String)>,
    /// The body, when its template has no placeholders.
    pub fixed_body: Option<Bytes>,
}

/// The request target: origin form for HTTP/1.1 (with a Host header), absolute for HTTP/2
/// and for a proxy.
fn request_uri(url: &url::Url, absolute: bool) -> Result<Uri, String> {
    let text = if absolute {
        url.as_str().to_string()
    } else {
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    };
    text.parse()
        .map_err(|e| format!("{url} is not a valid request target: {e}"))
}

/// Splits a request target at [`CAPTURED_PLACEHOLDER`] (percent-encoded by the URL parser).
fn captured_target(url: &url::Url, absolute: bool) -> Option<(String, String)> {
    let text = request_uri(url, absolute).ok()?.to_string();
    let encoded = CAPTURED_PLACEHOLDER.replace('{', "%7B").replace('}', "%7D");
    let (prefix, suffix) = text.split_once(&encoded)?;
    Some((prefix.to_string(), suffix.to_string()))
}

/// Everything a request needs that does not change between requests.
pub struct Wire {
    pub scenario: Scenario,
    pub origins: Vec<Origin>,
    /// Host header value per origin.
    pub(crate) authorities: Vec<HeaderValue>,
    /// Per task, per step.
    pub(crate) step_slots: Vec<Vec<StepSlot>>,
    /// Per MCP endpoint: origin index and request URI.
    pub(crate) endpoint_origin: Vec<usize>,
    pub(crate) endpoint_uri: Vec<Uri>,
    pub http: HttpOptions,
    pub tls: Option<Tls>,
    pub seed: u64,
    /// Process-wide request sequence (templates' `{{seq}}`).
    seq: AtomicU64,
    /// The run's own secret header values, scrubbed from every error message.
    pub scrubber: cli::redact::Scrubber,
}

impl Wire {
    /// `operations` are the recorder's operation names (their order gives the indexes).
    pub fn new(
        scenario: Scenario,
        operations: &[String],
        http: HttpOptions,
        tls: Option<Tls>,
        seed: u64,
    ) -> Result<Wire, String> {
        let mut origins: Vec<Origin> = Vec::new();
        let mut origin_of = |url: &url::Url| -> Result<usize, String> {
            let o = Origin::of(url)?;
            Ok(match origins.iter().position(|x| *x == o) {
                Some(i) => i,
                None => {
                    origins.push(o);
                    origins.len() - 1
                }
            })
        };
        let endpoint_origin = scenario
            .endpoints
            .iter()
            .map(|e| origin_of(&e.url))
            .collect::<Result<Vec<_>, _>>()?;
        let absolute = http.http2 || http.proxy.is_some();
        let endpoint_uri = scenario
            .endpoints
            .iter()
            .map(|e| request_uri(&e.url, absolute))
            .collect::<Result<Vec<_>, _>>()?;
        let op = |name: &str| {
            operations
                .iter()
                .position(|o| o == name)
                .ok_or_else(|| format!("operation {name} not registered"))
        };
        let mut step_slots = Vec::new();
        for task in &scenario.tasks {
            let mut slots = Vec::new();
            for step in &task.steps {
                slots.push(match step {
                    Step::Http(h) => StepSlot {
                        origin: origin_of(&h.url)?,
                        op: op(&h.op)?,
                        uri: request_uri(&h.url, absolute)?,
                        captured_target: captured_target(&h.url, absolute),
                        fixed_body: match &h.body {
                            None => Some(Bytes::new()),
                            Some(t) => t.literal().map(|text| Bytes::from(text.to_string())),
                        },
                    },
                    Step::Mcp { endpoint, call } => StepSlot {
                        origin: endpoint_origin[*endpoint],
                        op: op(call.method())?,
                        uri: endpoint_uri[*endpoint].clone(),
                        captured_target: None,
                        fixed_body: None,
                    },
                });
            }
            step_slots.push(slots);
        }
        let authorities = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(&o.authority()).map_err(|e| format!("host {}: {e}", o.host))
            })
            .collect::<Result<_, _>>()?;
        let scrubber = scenario.scrubber();
        Ok(Wire {
            scenario,
            origins,
            authorities,
            step_slots,
            endpoint_origin,
            endpoint_uri,
            http,
            tls,
            seed,
            seq: AtomicU64::new(0),
            scrubber,
        })
    }

    /// The next value of `{{seq}}`.
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }
}

/// The measured window: iterations intended inside it are measured, others are warm-up (before)
/// or never sent (after).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub measured_from: Instant,
    /// None: until the request budget is spent or a signal stops the run.
    pub end: Option<Instant>,
}

impl Window {
    pub fn contains(&self, intended: Instant) -> bool {
        intended >= self.measured_from && self.end.is_none_or(|e| intended < e)
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Iterations start as scheduled.
    Running = 0,
    /// The window closed or the request budget was spent: nothing new starts; arrivals
    /// already waiting (intended inside the window) and requests in flight finish, until the
    /// drain deadline.
    Draining = 1,
    /// A stop signal: nothing new starts and waiting arrivals are dropped; requests in flight
    /// get a short grace.
    Halted = 2,
}

/// A user class as the users see it: its tasks and their cumulative weights.
pub(crate) struct ClassSlot {
    pub tasks: Vec<usize>,
    pub cumulative_weights: Vec<u64>,
    pub wait: Option<Wait>,
}

impl ClassSlot {
    fn new(scenario: &Scenario, tasks: Vec<usize>, wait: Option<Wait>) -> Self {
        let cumulative_weights = tasks
            .iter()
            .scan(0u64, |acc, &t| {
                *acc += u64::from(scenario.tasks[t].weight);
                Some(*acc)
            })
            .collect();
        ClassSlot {
            tasks,
            cumulative_weights,
            wait,
        }
    }
}

/// Smooth weighted round-robin (nginx's): one cycle of length Σweights in which each class
/// appears `weight` times, spread out — so ten users of weights 10:5:3:2 are not all class 0.
fn interleave(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut cycle = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, &w) in current.iter_mut().zip(weights) {
            *c += i64::from(w);
        }
        let best = (0..current.len())
            .max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
            .expect("at least one class");
        current[best] -= total;
        cycle.push(best);
    }
    cycle
}

/// Everything the users of a run share once discovery is done.
pub struct RunContext {
    pub wire: Wire,
    pub catalogs: Vec<Catalog>,
    pub(crate) classes: Vec<ClassSlot>,
    /// User id → class, repeating: the classes interleaved in proportion to their weights.
    class_cycle: Vec<usize>,
    pub(crate) setup_op: Option<usize>,
    pub(crate) delete_op: Option<usize>,
    pub recorder: Recorder,
    pub ledger: Ledger,
    pub window: Window,
    /// Requests still unanswered at this instant (the window's end plus the request timeout)
    /// are cut and recorded as timeouts with their latency so far.
    pub drain_deadline: Option<Instant>,
    /// Measured iterations still allowed (`max_requests`), or u64::MAX.
    budget: AtomicU64,
    phase: AtomicU8,
    /// Wakes users parked in a wait when the phase changes.
    pub phase_changed: tokio::sync::watch::Sender<()>,
    /// A steerer's load target and early end (the web UI), when the run has one.
    pub(crate) steering: Option<Arc<crate::live::Steering>>,
    /// hey's per-request CSV, when asked for.
    pub(crate) request_log: Option<Arc<crate::request_log::RequestLog>>,
}

impl RunContext {
    pub fn new(
        wire: Wire,
        catalogs: Vec<Catalog>,
        recorder: Recorder,
        window: Window,
        max_iterations: Option<u64>,
    ) -> RunContext {
        let scenario = &wire.scenario;
        let (classes, class_weights): (Vec<ClassSlot>, Vec<u32>) = if scenario.classes.is_empty() {
            let all = ClassSlot::new(scenario, (0..scenario.tasks.len()).collect(), None);
            (vec![all], vec![1])
        } else {
            scenario
                .classes
                .iter()
                .map(|c| {
                    let slot = ClassSlot::new(scenario, c.tasks.clone(), c.wait.clone());
                    (slot, c.weight)
                })
                .unzip()
        };
        RunContext {
            setup_op: recorder.op_index(SESSION_SETUP_OP),
            delete_op: recorder.op_index(SESSION_DELETE_OP),
            drain_deadline: window.end.map(|e| e + wire.http.timeout),
            wire,
            catalogs,
            classes,
            class_cycle: interleave(&class_weights),
            recorder,
            ledger: Ledger::default(),
            window,
            budget: AtomicU64::new(max_iterations.unwrap_or(u64::MAX)),
            phase: AtomicU8::new(Phase::Running as u8),
            phase_changed: tokio::sync::watch::Sender::new(()),
            steering: None,
            request_log: None,
        }
    }

    /// The load target at `t` into the window: the steerer's when it set one, else the plan's.
    pub fn target_at(&self, plan: &Plan, t: Duration) -> f64 {
        self.steering
            .as_ref()
            .and_then(|s| s.target())
            .unwrap_or_else(|| plan.target_at(t))
    }

    /// Resolves when the steerer ends the window early; never without a steerer.
    pub async fn end_requested(&self) {
        match &self.steering {
            Some(steering) => steering.ended().await,
            None => std::future::pending().await,
        }
    }

    /// The class user `id` belongs to.
    pub fn class_of(&self, id: u32) -> usize {
        self.class_cycle[id as usize % self.class_cycle.len()]
    }

    /// The wait of a user class, when it has its own.
    pub fn class_wait(&self, class: usize) -> Option<&Wait> {
        self.classes[class].wait.as_ref()
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Running,
            1 => Phase::Draining,
            _ => Phase::Halted,
        }
    }

    /// Moves on to `phase` (never back) and wakes parked users.
    pub fn enter(&self, phase: Phase) {
        self.phase.fetch_max(phase as u8, Ordering::Relaxed);
        self.phase_changed.send_replace(());
    }

    /// Takes one measured iteration from the budget; false (and the run drains) once spent.
    pub fn take_budget(&self) -> bool {
        let took = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
            .is_ok();
        if !took || self.budget.load(Ordering::Relaxed) == 0 {
            self.enter(Phase::Draining);
        }
        took
    }

    /// Records a measured request's sample (error messages scrubbed of secrets first).
    pub fn record(&self, op: usize, measured: bool, sample: Sample) {
        if !measured {
            return;
        }
        if let Some(log) = &self.request_log {
            log.write(&sample, self.window.measured_from);
        }
        match sample.error {
            None => self.recorder.record(op, &sample),
            Some((class, ref message)) => {
                let message = self.wire.scrubber.scrub(message).into_owned();
                self.recorder.record(
                    op,
                    &Sample {
                        error: Some((class, message)),
                        ..sample
                    },
                );
            }
        }
    }

    /// Resolves once the phase has moved past `Running`.
    pub async fn stopping(&self) {
        let mut rx = self.phase_changed.subscribe();
        while self.phase() == Phase::Running {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Sleeps for `d` unless the run stops first; false if it did.
    pub async fn sleep_unless_stopping(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.stopping() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_interleave_in_proportion_to_their_weights() {
        let cycle = interleave(&[10, 5, 3, 2]);
        assert_eq!(cycle.len(), 20);
        for (class, weight) in [(0, 10), (1, 5), (2, 3), (3, 2)] {
            assert_eq!(cycle.iter().filter(|&&c| c == class).count(), weight);
        }
        // The first ten users already cover every class.
        let mut first: Vec<usize> = cycle[..10].to_vec();
        first.sort();
        first.dedup();
        assert_eq!(first, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_captured_path_splits_around_the_placeholder() {
        let url = url::Url::parse("http://127.0.0.1:1/entities/{captured}/state?x=1").unwrap();
        assert_eq!(
            captured_target(&url, false),
            Some(("/entities/".into(), "/state?x=1".into()))
        );
        assert_eq!(
            captured_target(&url::Url::parse("http://h/tools").unwrap(), false),
            None
        );
    }

    #[test]
    fn the_window_is_half_open_and_warm_up_is_outside_it() {
        let start = Instant::now();
        let w = Window {
            measured_from: start + Duration::from_secs(1),
            end: Some(start + Duration::from_secs(3)),
        };
        assert!(!w.contains(start));
        assert!(w.contains(start + Duration::from_secs(1)));
        assert!(!w.contains(start + Duration::from_secs(3)));
        let open_ended = Window { end: None, ..w };
        assert!(open_ended.contains(start + Duration::from_secs(3600)));
    }
}
