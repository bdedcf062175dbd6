//! `--profile-gateway`: around the gateway tier, py-spy samples the gateway's Python stacks
//! (`stack::profiler`) and the gateway's own request counters are read before and after
//! (`contextforge::api::Client::route_timings`); the report sets both beside the tier's
//! numbers. Every other tier runs untouched.

use std::time::Duration;

use report::{Counters, GatewayProfile, Stacks, Tier};
use stack::profiler::{GatewayProfiler, Recording};

/// How much longer than the tier's planned length py-spy may run before it stops itself (the
/// run stops it at the tier's end; this bounds a run that never tells it).
const OVERRUN: Duration = Duration::from_secs(120);

/// The profiling of one tier, before, during and after it.
pub struct GatewayProfiling {
    /// The tier profiled.
    tier: Tier,
    profiler: Result<GatewayProfiler, String>,
    client: contextforge::api::Client,
    /// py-spy's longest run.
    longest: Duration,
    recording: Option<Result<Recording, String>>,
    before: Option<Result<Vec<contextforge::api::RouteTiming>, String>>,
    profile: Option<GatewayProfile>,
}

impl GatewayProfiling {
    /// Makes py-spy ready for the stack's gateway (installing it where it runs, once); a
    /// failure is kept and said in the report, not fatal to the run.
    pub async fn prepare(
        tier: Tier,
        state: &stack::StackState,
        up: &stack::UpOptions,
        targets: &crate::targets::Targets,
        tier_length: Duration,
    ) -> GatewayProfiling {
        let profiler = stack::profiler::gateway_profiler(state, &up.state_dir, &up.cache_dir).await;
        GatewayProfiling {
            tier,
            profiler,
            client: contextforge::api::Client::new(targets.gateway.as_str(), &targets.token),
            longest: tier_length + OVERRUN,
            recording: None,
            before: None,
            profile: None,
        }
    }

    /// What the run says before it starts.
    pub fn announce(&self) -> String {
        match &self.profiler {
            Ok(p) => format!(
                "profiling the gateway during the {} tier with {} ({} samples/s per process, every worker)",
                self.tier,
                p.version,
                stack::profiler::RATE
            ),
            Err(e) => format!("the gateway cannot be profiled: {e}"),
        }
    }

    /// Before a tier: for the profiled one, the counters, then py-spy started.
    pub async fn starting(&mut self, tier: Tier) {
        if tier != self.tier {
            return;
        }
        self.before = Some(self.client.route_timings().await);
        self.recording = Some(match &self.profiler {
            Ok(profiler) => profiler.start(self.longest).await,
            Err(e) => Err(e.clone()),
        });
    }

    /// After a tier: for the profiled one, py-spy stopped and the counters read again.
    pub async fn ended(&mut self, tier: Tier) {
        if tier != self.tier {
            return;
        }
        let stacks = match self.recording.take() {
            Some(Ok(recording)) => recording.finish().await.and_then(|text| {
                report::parse_folded(&text).map_err(|e| format!("py-spy's output: {e}"))
            }),
            Some(Err(e)) => Err(e),
            None => Err("the tier did not start".into()),
        };
        let after = self.client.route_timings().await;
        let counters = match (self.before.take(), after) {
            (Some(Ok(before)), Ok(after)) => Counters::Read { before, after },
            (Some(Err(reason)), _) | (_, Err(reason)) => Counters::Unavailable { reason },
            (None, Ok(_)) => Counters::Unavailable {
                reason: "not read before the tier".into(),
            },
        };
        let sampler = match &self.profiler {
            Ok(p) => format!(
                "{}, {} samples/s per process, every worker (--subprocesses), without pausing them (--nonblocking), functions as frames (--nolineno), warm-up included",
                p.version,
                stack::profiler::RATE
            ),
            Err(_) => "py-spy".into(),
        };
        self.profile = Some(GatewayProfile {
            tier,
            sampler,
            stacks: match stacks {
                Ok(stacks) if stacks.is_empty() => Stacks::NotRecorded {
                    reason: "py-spy took no samples".into(),
                },
                Ok(stacks) => Stacks::Recorded { stacks },
                Err(reason) => Stacks::NotRecorded { reason },
            },
            counters,
        });
    }

    /// The profile, when the tier ran far enough to have one.
    pub fn finish(self) -> Option<GatewayProfile> {
        self.profile
    }
}
