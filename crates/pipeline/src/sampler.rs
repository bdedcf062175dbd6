//! The gateway's resident memory, sampled through every tier (the soak profile's leak check):
//! its main process as the host sees it, for either runtime, and the process group that holds
//! its workers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use report::{ResourceSample, Tier};

/// A sampler running in the background; `finish` stops it and hands over what it took.
pub struct GatewaySampler {
    tier: Arc<Mutex<Tier>>,
    samples: Arc<Mutex<Vec<ResourceSample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl GatewaySampler {
    /// Starts sampling the gateway whose host pid is `pid` every `every`; None when there is no
    /// such process to read.
    pub fn start(pid: Option<u32>, every: Duration, first: Tier) -> Option<GatewaySampler> {
        let process = stack::process::ProcessId::of(pid?)?;
        let tier = Arc::new(Mutex::new(first));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let (tier, samples) = (tier.clone(), samples.clone());
            let start = Instant::now();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    let Some(kib) = process.group_rss_kib() else {
                        continue;
                    };
                    samples.lock().expect("samples").push(ResourceSample {
                        t: start.elapsed().as_secs_f64(),
                        tier: *tier.lock().expect("tier"),
                        rss_mib: kib as f64 / 1024.0,
                    });
                }
            })
        };
        Some(GatewaySampler {
            tier,
            samples,
            task,
        })
    }

    /// The tier running from now on.
    pub fn tier_started(&self, tier: Tier) {
        *self.tier.lock().expect("tier") = tier;
    }

    pub fn finish(self) -> Vec<ResourceSample> {
        self.task.abort();
        std::mem::take(&mut *self.samples.lock().expect("samples"))
    }
}
