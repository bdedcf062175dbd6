//! The UI's one run at a time: started from a checked form as the `load-test` it stands for,
//! steered (users or rate, an early end) through the engine's [`loadgen::Live`] handle, and told
//! to every open page as events. What a page opened later needs (the phase, the tiers so far,
//! the current tier's seconds, the last run's files) is kept in [`View`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use cli::signal::StopReceiver;
use loadgen::{Live, LiveTick};
use pipeline::cli::LoadTestArgs;
use pipeline::run::{Event, RunOptions};
use pipeline::tiers::TierEvent;
use serde::Serialize;
use serde_json::{json, Value};

use crate::form::{FieldErrors, FormInput, Pace, Scope, Settings};

/// Seconds of the current tier a page opened mid-run is sent (an hour).
const HISTORY: usize = 3600;

/// Where the UI is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Idle,
    Running,
    /// Asked to stop: the tier drains and the run writes its reports.
    Stopping,
    Finished,
    Failed,
}

/// What an open page is told on connecting: everything since the run started.
#[derive(Serialize)]
struct View {
    phase: Phase,
    settings: Option<Settings>,
    /// The tier running now.
    tier: Option<String>,
    /// The load target set while running, when it was changed.
    target: Option<f64>,
    /// Each tier's start and end, in order.
    tiers: Vec<Value>,
    /// The current tier's seconds.
    ticks: Vec<Value>,
    notes: Vec<String>,
    /// The finished run: its id, verdict and files.
    done: Option<Value>,
    error: Option<String>,
    #[serde(skip)]
    live: Option<Live>,
}

impl View {
    /// A page with no run.
    fn empty() -> View {
        View {
            phase: Phase::Idle,
            settings: None,
            tier: None,
            target: None,
            tiers: vec![],
            ticks: vec![],
            notes: vec![],
            done: None,
            error: None,
            live: None,
        }
    }
}

/// Why a request to the hub was refused.
pub enum Refusal {
    /// Bad fields: shown beside each (HTTP 400).
    Fields(FieldErrors),
    /// Not now (HTTP 409): a run is under way, or none is.
    Conflict(String),
}

pub struct Hub {
    template: LoadTestArgs,
    bench_server: stack::BenchServerProgram,
    command_line: Vec<String>,
    stop: StopReceiver,
    events: tokio::sync::broadcast::Sender<Arc<str>>,
    view: Mutex<View>,
    run_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    me: Weak<Hub>,
}

impl Hub {
    pub fn new(
        template: LoadTestArgs,
        bench_server: stack::BenchServerProgram,
        command_line: Vec<String>,
        stop: StopReceiver,
    ) -> Arc<Hub> {
        Arc::new_cyclic(|me| Hub {
            template,
            bench_server,
            command_line,
            stop,
            events: tokio::sync::broadcast::channel(1024).0,
            view: Mutex::new(View::empty()),
            run_thread: Mutex::new(None),
            me: me.clone(),
        })
    }

    pub fn reports_dir(&self) -> &std::path::Path {
        &self.template.reports_dir
    }

    /// A new page's stream: first the view, then every event.
    pub fn subscribe(&self) -> (String, tokio::sync::broadcast::Receiver<Arc<str>>) {
        let view = self.view.lock().expect("view");
        let hello = json!({"type": "hello", "view": &*view}).to_string();
        (hello, self.events.subscribe())
    }

    fn tell(&self, event: &Value) {
        let _ = self.events.send(event.to_string().into());
    }

    /// Starts a run from the form, unless one is under way or a field is wrong.
    pub fn start(&self, form: &FormInput) -> Result<Settings, Refusal> {
        let mut view = self.view.lock().expect("view");
        if matches!(view.phase, Phase::Running | Phase::Stopping) {
            return Err(Refusal::Conflict(
                "a run is under way: stop it first".into(),
            ));
        }
        let settings = form.check().map_err(Refusal::Fields)?;
        let live = self.live();
        let options = self
            .options(&settings, live.clone())
            .map_err(|m| Refusal::Fields(FieldErrors::from([("form", m)])))?;
        *view = View {
            phase: Phase::Running,
            settings: Some(settings.clone()),
            live: Some(live),
            ..View::empty()
        };
        self.tell(&json!({"type": "started", "settings": &settings}));
        let hub = self.me.upgrade().expect("the hub outlives its requests");
        let thread = std::thread::Builder::new()
            .name("load-test-ui-run".into())
            .spawn(move || hub.run(options))
            .map_err(|e| Refusal::Conflict(format!("cannot start the run: {e}")))?;
        *self.run_thread.lock().expect("run thread") = Some(thread);
        Ok(settings)
    }

    /// The engine's handle for a new run: its seconds go to every page.
    fn live(&self) -> Live {
        let hub = self.me.clone();
        Live::new(move |tick| {
            if let Some(hub) = hub.upgrade() {
                hub.tick(&tick);
            }
        })
    }

    /// The run options the form stands for: the UI's own flags, then the form's.
    fn options(&self, settings: &Settings, live: Live) -> Result<RunOptions, String> {
        let mut args = self.template.clone();
        args.tiers = Some(settings.scope.tiers().into());
        args.users = Some(settings.users);
        args.run_time = Some(format!("{}s", settings.run_time.as_secs_f64()));
        match settings.scope.class_kind() {
            contextforge::workloads::ClassKind::Mcp => {
                args.mcp_classes = Some(settings.classes.clone())
            }
            contextforge::workloads::ClassKind::Rest => {
                args.rest_classes = Some(settings.classes.clone())
            }
        }
        if let Pace::Users { spawn_rate } = settings.pace {
            args.spawn_rate = Some(spawn_rate.to_string());
        }
        // The UI holds the stack for its whole life: a run leaves it up.
        args.target.keep_stack = true;
        args.progress = loadgen::load_cli::ProgressArg::Quiet;
        let command_line: Vec<String> = self
            .command_line
            .iter()
            .cloned()
            .chain(std::iter::once("(web UI:".to_string()))
            .chain(settings.flags())
            .chain(std::iter::once(")".to_string()))
            .collect();
        let env = |k: &str| std::env::var(k).ok();
        let mut options =
            pipeline::cli::resolve(&args, env, self.bench_server.clone(), command_line)?;
        options.profile.name = "ui".into();
        if let Pace::Arrivals { rate } = settings.pace {
            options.profile.load = pipeline::profile::Load::Arrivals {
                rate,
                stages: vec![loadgen::Stage {
                    target: rate,
                    duration: settings.run_time,
                }],
                max_in_flight: settings.users,
                arrival: loadgen::Arrival::Poisson,
            };
            let mut notes = Vec::new();
            options.thresholds = pipeline::thresholds::scoped(
                &options.profile,
                &args.thresholds,
                &options.tiers,
                &options.picks,
                &mut notes,
            )?;
            options.notes = notes;
        }
        options.live = Some(live);
        Ok(options)
    }

    /// The run, on its own thread and runtime (the pipeline's progress callback is not Send).
    fn run(&self, options: RunOptions) {
        let reports_dir = options.reports_dir.clone();
        let outcome = loadgen::runtime_with_workers(options.workers)
            .map_err(|e| format!("cannot start the async runtime: {e}"))
            .and_then(|runtime| {
                runtime
                    .block_on(pipeline::run::run(options, self.stop.clone(), &mut |e| {
                        self.event(e)
                    }))
                    .map_err(|e| e.to_string())
            })
            .and_then(|run| {
                let dir = pipeline::run::write_reports(&run, &reports_dir)?;
                Ok((run, dir))
            });
        match outcome {
            Ok((run, dir)) => self.finished(&run, &dir),
            Err(message) => self.failed(message),
        }
    }

    fn event(&self, event: Event<'_>) {
        let mut view = self.view.lock().expect("view");
        let told = match event {
            Event::Note(note) => {
                println!("load-test-ui: {note}");
                view.notes.push(note.to_string());
                json!({"type": "note", "text": note})
            }
            Event::Tier(TierEvent::Starting { tier, target }) => {
                println!("load-test-ui: tier {tier}: {target}");
                view.tier = Some(tier.to_string());
                view.ticks.clear();
                json!({"type": "tier", "tier": tier.name(), "status": "running", "target": target})
            }
            Event::Tier(TierEvent::Finished { tier, results }) => {
                let t = &results.total;
                json!({"type": "tier", "tier": tier.name(), "status": "ran", "summary": {
                    "requests": t.requests, "failures": t.failures, "rps": t.rps,
                    "error_rate": t.error_rate, "p50_ms": t.latency.p50_ms,
                    "p95_ms": t.latency.p95_ms, "p99_ms": t.latency.p99_ms,
                    "max_ms": t.latency.max_ms, "dropped": results.schedule.accounting.dropped.total(),
                }})
            }
            Event::Tier(TierEvent::NotRun { tier, why }) => {
                println!("load-test-ui: tier {tier}: {why}");
                json!({"type": "tier", "tier": tier.name(), "status": "not_run", "why": why})
            }
        };
        if told["type"] == "tier" {
            view.tiers.push(told.clone());
        }
        self.tell(&told);
    }

    fn tick(&self, tick: &LiveTick) {
        let mut view = self.view.lock().expect("view");
        let told = json!({"type": "tick", "tier": view.tier, "tick": tick});
        if view.ticks.len() == HISTORY {
            view.ticks.remove(0);
        }
        view.ticks.push(told.clone());
        self.tell(&told);
    }

    fn finished(&self, run: &report::OverheadRun, dir: &std::path::Path) {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        println!(
            "load-test-ui: report: {}",
            dir.join("report.html").display()
        );
        let done = json!({
            "type": "done", "run_id": run.run_id, "verdict": run.verdict.status,
            "reasons": run.verdict.reasons, "files": files, "overhead": run.overhead,
            "warnings": run.warnings,
        });
        let mut view = self.view.lock().expect("view");
        view.phase = Phase::Finished;
        view.live = None;
        view.done = Some(done.clone());
        self.tell(&done);
    }

    fn failed(&self, message: String) {
        println!("load-test-ui: the run failed: {message}");
        let mut view = self.view.lock().expect("view");
        view.phase = Phase::Failed;
        view.live = None;
        view.error = Some(message.clone());
        self.tell(&json!({"type": "failed", "message": message}));
    }

    /// Ends the run's window now: it drains, writes its reports and shows them.
    pub fn stop_run(&self) -> Result<(), Refusal> {
        let mut view = self.view.lock().expect("view");
        let Some(live) = view.live.clone().filter(|_| view.phase == Phase::Running) else {
            return Err(Refusal::Conflict("no run is under way".into()));
        };
        live.end_now();
        view.phase = Phase::Stopping;
        self.tell(&json!({"type": "stopping"}));
        Ok(())
    }

    /// Changes the running load: users (users model) or arrivals per second (rate model). A
    /// comparison keeps its load, so every tier runs the same.
    pub fn steer(&self, value: &str) -> Result<f64, Refusal> {
        let mut view = self.view.lock().expect("view");
        let (Some(live), Some(settings)) = (view.live.clone(), view.settings.as_ref()) else {
            return Err(Refusal::Conflict("no run is under way".into()));
        };
        if view.phase != Phase::Running {
            return Err(Refusal::Conflict("the run is stopping".into()));
        }
        if settings.scope == Scope::Compare {
            return Err(field_error(
                "a comparison runs the same load on every tier: it cannot change mid-way",
            ));
        }
        let target = match settings.pace {
            Pace::Users { .. } => crate::form::users(value).map(f64::from),
            Pace::Arrivals { .. } => crate::form::positive_rate(value, "the arrival rate"),
        }
        .map_err(|m| field_error(&m))?;
        live.set_target(target);
        view.target = Some(target);
        self.tell(&json!({"type": "target", "value": target}));
        Ok(target)
    }

    /// Back to an empty page once a run is over.
    pub fn reset(&self) -> Result<(), Refusal> {
        let mut view = self.view.lock().expect("view");
        if matches!(view.phase, Phase::Running | Phase::Stopping) {
            return Err(Refusal::Conflict(
                "a run is under way: stop it first".into(),
            ));
        }
        *view = View::empty();
        self.tell(&json!({"type": "reset"}));
        Ok(())
    }

    /// Waits for a run under way to end (a stop signal halts it and it writes what it measured).
    pub fn wait_for_run(&self) {
        let thread = self.run_thread.lock().expect("run thread").take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

fn field_error(message: &str) -> Refusal {
    Refusal::Fields(FieldErrors::from([("target", message.to_string())]))
}

/// Where a finished run's files are.
pub fn run_file(reports_dir: &std::path::Path, run_id: &str, file: &str) -> Option<PathBuf> {
    let plain = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !plain(run_id) || !plain(file) || file.contains("..") {
        return None;
    }
    let path = reports_dir.join(run_id).join(file);
    path.is_file().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_file_of_a_run_is_served() {
        let dir = std::env::temp_dir().join(format!("webui-run-file-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("20260101-000000-ui")).unwrap();
        std::fs::write(dir.join("20260101-000000-ui/report.html"), "x").unwrap();
        assert!(run_file(&dir, "20260101-000000-ui", "report.html").is_some());
        for (run, file) in [
            ("20260101-000000-ui", "../x"),
            ("..", "report.html"),
            ("20260101-000000-ui", "missing.csv"),
            ("20260101-000000-ui", ".hidden"),
            ("a/b", "report.html"),
        ] {
            assert!(run_file(&dir, run, file).is_none(), "{run}/{file}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
