//! The executors. Closed: users spawned at a rate, each looping iteration → wait. Open: a
//! schedule on its own thread hands intended start times to a fixed pool of virtual users
//! through a backlog. Both keep the ledger: every measured iteration is intended, then started
//! (and recorded) or dropped with its reason.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

use crate::context::{Phase, RunContext};
use crate::plan::{Arrival, Model, Plan, Wait};
use crate::schedule::{Start, LATE_START};
use crate::vu::VirtualUser;

/// Runs the plan's model until the window closes, the budget is spent or a signal halts it; a
/// measured iteration under way finishes in the drain.
pub async fn execute(ctx: Arc<RunContext>, plan: Plan, start: Instant) {
    match plan.model {
        Model::Closed { .. } => run_closed(ctx, plan, start).await,
        Model::Open { .. } => run_open(ctx, plan, start).await,
    }
}

/// Whether a user may begin an iteration now.
fn may_begin(ctx: &RunContext) -> bool {
    ctx.phase() == Phase::Running && ctx.window.end.is_none_or(|e| Instant::now() < e)
}

async fn run_closed(ctx: Arc<RunContext>, plan: Plan, start: Instant) {
    let Model::Closed {
        spawn_rate,
        ref wait,
        ..
    } = plan.model
    else {
        unreachable!("closed model")
    };
    let (desired_tx, desired_rx) = tokio::sync::watch::channel(0u64);
    let mut users = JoinSet::new();
    let mut spawned = 0u64;
    while may_begin(&ctx) {
        let now = Instant::now();
        let t = now.saturating_duration_since(ctx.window.measured_from);
        let mut desired = ctx.target_at(&plan, t).round() as u64;
        if spawn_rate > 0.0 {
            desired = desired.min((spawn_rate * (now - start).as_secs_f64()).floor() as u64 + 1);
        }
        while spawned < desired {
            let (ctx, wait, desired_rx) = (ctx.clone(), wait.clone(), desired_rx.clone());
            let id = spawned as u32;
            users.spawn(async move { closed_user(id, ctx, wait, desired_rx).await });
            spawned += 1;
        }
        let _ = desired_tx.send(desired);
        ctx.ledger
            .active
            .store(desired.min(spawned), Ordering::Relaxed);
        if users.is_empty() && desired == 0 && plan.stages.is_empty() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = ctx.stopping() => {}
            Some(_) = users.join_next(), if !users.is_empty() => {}
        }
    }
    while users.join_next().await.is_some() {}
}

async fn closed_user(
    id: u32,
    ctx: Arc<RunContext>,
    wait: Wait,
    mut desired: tokio::sync::watch::Receiver<u64>,
) {
    let mut user = VirtualUser::new(id, &ctx.wire, ctx.class_of(id));
    let wait = ctx.class_wait(user.class).cloned().unwrap_or(wait);
    let pacing = wait.pacing();
    let mut slot = Instant::now();
    // A paced user still busy with the target when its next slot came starts late by the
    // target's doing, not the generator's.
    let mut start = Start::Free;
    while may_begin(&ctx) {
        if u64::from(id) >= *desired.borrow() {
            // Parked by a ramp-down; wake when the target rises again or the run ends.
            tokio::select! {
                changed = desired.changed() => if changed.is_err() { return },
                _ = ctx.stopping() => return,
            }
            slot = Instant::now();
            continue;
        }
        let intended = if pacing.is_some() {
            slot
        } else {
            Instant::now()
        };
        if ctx.window.contains(intended) {
            if !ctx.take_budget() {
                return;
            }
            ctx.ledger.intend();
            ctx.ledger.start(intended, start, false);
        }
        if pacing.is_some() {
            // A late iteration is measured from its slot, but the schedule resumes from now:
            // Locust's pacing does not burst to catch up.
            slot = slot.max(Instant::now());
        }
        user.iteration(&ctx, intended).await;
        if ctx.window.contains(intended) {
            ctx.ledger.record();
        }
        // An iteration that never awaited the network (a failure judged at once) must still
        // let the deadline, the collector and a stop signal run.
        tokio::task::consume_budget().await;
        let pause = match wait {
            Wait::None => continue,
            Wait::Constant { secs } => Duration::from_secs_f64(secs),
            Wait::Between { min_secs, max_secs } => {
                Duration::from_secs_f64(user.rng().gen_range(min_secs..=max_secs))
            }
            Wait::ConstantThroughput { .. } | Wait::ConstantPacing { .. } => {
                slot += pacing.expect("pacing wait");
                slot.saturating_duration_since(Instant::now())
            }
        };
        start = if pacing.is_some() && pause.is_zero() {
            Start::Queued
        } else {
            Start::Free
        };
        if !pause.is_zero() && !ctx.sleep_unless_stopping(pause).await {
            return;
        }
    }
}

/// One arrival: when the schedule meant it to start.
struct ArrivalToken {
    intended: Instant,
    /// Every user was busy when it arrived: it waits in the backlog.
    queued: bool,
    /// The schedule itself emitted it late (its thread fell behind).
    emitted_late: bool,
}

async fn run_open(ctx: Arc<RunContext>, plan: Plan, start: Instant) {
    let Model::Open { max_in_flight, .. } = plan.model else {
        unreachable!("open model")
    };
    let (tx, rx) = async_channel::unbounded::<ArrivalToken>();
    let occupancy = Arc::new(Occupancy::default());
    let mut vus = JoinSet::new();
    for id in 0..max_in_flight {
        let (ctx, rx, occupancy) = (ctx.clone(), rx.clone(), occupancy.clone());
        vus.spawn(async move { open_user(id, ctx, rx, occupancy).await });
    }
    drop(rx);
    // The schedule runs on its own thread: a busy async runtime must not delay arrivals, and
    // std's sleep is far finer than the runtime's millisecond timer.
    let scheduler = {
        let (ctx, occupancy) = (ctx.clone(), occupancy.clone());
        std::thread::Builder::new()
            .name("loadgen-schedule".into())
            .spawn(move || schedule(&ctx, &plan, start, &occupancy, &tx))
            .expect("spawn the schedule thread")
    };
    while vus.join_next().await.is_some() {}
    let _ = tokio::task::spawn_blocking(move || scheduler.join()).await;
}

/// The open model's arrivals: those not finished (waiting or being run), and those being run.
#[derive(Default)]
struct Occupancy {
    /// Emitted and not yet finished: the backlog's limit counts these.
    pending: AtomicU64,
    /// Being run by a user. All users busy at an arrival means it queues for the target.
    busy: AtomicU64,
}

/// A user of the open model: takes arrivals from the backlog until the schedule ends it.
async fn open_user(
    id: u32,
    ctx: Arc<RunContext>,
    rx: async_channel::Receiver<ArrivalToken>,
    occupancy: Arc<Occupancy>,
) {
    let mut user = VirtualUser::new(id, &ctx.wire, ctx.class_of(id));
    while let Ok(token) = rx.recv().await {
        let measured = ctx.window.contains(token.intended);
        // Halted, or past the drain's deadline: an arrival still waiting never starts (the
        // ledger counts it as dropped, window closed).
        let too_late = ctx.drain_deadline.is_some_and(|d| Instant::now() >= d);
        if ctx.phase() != Phase::Halted && !too_late {
            let busy = occupancy.busy.fetch_add(1, Ordering::Relaxed) + 1;
            ctx.ledger.active.store(busy, Ordering::Relaxed);
            if measured {
                let start = if token.queued {
                    Start::Queued
                } else {
                    Start::Free
                };
                ctx.ledger.start(token.intended, start, token.emitted_late);
            }
            user.iteration(&ctx, token.intended).await;
            if measured {
                ctx.ledger.record();
            }
            occupancy.busy.fetch_sub(1, Ordering::Relaxed);
        }
        occupancy.pending.fetch_sub(1, Ordering::Relaxed);
        tokio::task::consume_budget().await;
    }
}

/// The schedule: emits arrivals at the plan's rate until the window closes, the run stops or
/// (with a request budget) as many measured arrivals as the budget allows were emitted.
fn schedule(
    ctx: &RunContext,
    plan: &Plan,
    start: Instant,
    occupancy: &Occupancy,
    tx: &async_channel::Sender<ArrivalToken>,
) {
    let Model::Open {
        arrival,
        max_in_flight,
        max_backlog,
        ..
    } = plan.model
    else {
        unreachable!("open model")
    };
    let capacity = u64::from(max_in_flight) + u64::from(max_backlog);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(plan.seed);
    let mut budget = plan.max_requests.unwrap_or(u64::MAX);
    let mut next = start;
    while ctx.phase() == Phase::Running && ctx.window.end.is_none_or(|e| next < e) && budget > 0 {
        let rate = ctx.target_at(
            plan,
            next.saturating_duration_since(ctx.window.measured_from),
        );
        if rate <= 0.0 {
            next += Duration::from_millis(10);
            continue;
        }
        let now = Instant::now();
        if next > now {
            // Short naps so a stop is noticed promptly even at low rates.
            std::thread::sleep((next - now).min(Duration::from_millis(50)));
            continue;
        }
        let measured = ctx.window.contains(next);
        if occupancy.pending.load(Ordering::Relaxed) >= capacity {
            if measured {
                ctx.ledger.drop_backlog_full();
            }
        } else {
            occupancy.pending.fetch_add(1, Ordering::Relaxed);
            if measured {
                ctx.ledger.intend();
            }
            let token = ArrivalToken {
                intended: next,
                queued: occupancy.busy.load(Ordering::Relaxed) >= u64::from(max_in_flight),
                emitted_late: now.saturating_duration_since(next) > LATE_START,
            };
            if tx.send_blocking(token).is_err() {
                break;
            }
        }
        if measured {
            budget -= 1;
        }
        let gap = match arrival {
            Arrival::Constant => 1.0 / rate,
            Arrival::Poisson => -(1.0 - rng.gen::<f64>()).ln() / rate,
        };
        next += Duration::from_secs_f64(gap);
    }
}
