//! What a run samples through every tier, each reading tagged with the tier running: every
//! service of the stack — gateway, nginx, bench servers, PostgreSQL and Redis when they run —
//! its CPU and resident memory (`stack::usage` reads them the runtime's way), and the host's
//! TCP sockets by state (`host::sockets`, what the seed has users `watch ss -s` for). The
//! gateway's memory series is also the soak profile's leak check.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use report::{ServiceUsage, SocketSample, Tier, UsageSample};

/// What the sampler took.
#[derive(Debug, Default)]
pub struct Samples {
    /// Every service read at least once, with its readings.
    pub service_usage: Vec<ServiceUsage>,
    pub sockets: Vec<SocketSample>,
}

/// A sampler running in the background; `finish` stops it and hands over what it took.
pub struct RunSampler {
    tier: Arc<Mutex<Tier>>,
    taken: Arc<Mutex<Samples>>,
    task: tokio::task::JoinHandle<()>,
}

/// What to read at each tick.
pub struct Sources {
    /// The stack's services; None when there is no stack of ours to read (an existing gateway).
    pub meter: Option<stack::usage::Meter>,
    /// The host's `/proc/net`; None when its sockets cannot be read.
    pub proc_net: Option<PathBuf>,
}

impl RunSampler {
    /// Starts reading `sources` every `every`, the first reading now.
    pub fn start(sources: Sources, every: Duration, first: Tier) -> RunSampler {
        let Sources {
            mut meter,
            proc_net,
        } = sources;
        let tier = Arc::new(Mutex::new(first));
        let taken = Arc::new(Mutex::new(Samples {
            service_usage: meter
                .iter()
                .flat_map(stack::usage::Meter::services)
                .map(|service| ServiceUsage {
                    service,
                    samples: vec![],
                })
                .collect(),
            sockets: vec![],
        }));
        let task = {
            let (tier, taken) = (tier.clone(), taken.clone());
            let start = Instant::now();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    let readings = match &mut meter {
                        Some(meter) => meter.read().await,
                        None => vec![],
                    };
                    // A reading that fails mid-run leaves a gap in the series (its neighbours'
                    // times show it); the run goes on.
                    let sockets = proc_net
                        .as_deref()
                        .and_then(|p| crate::host::sockets::read(p).ok());
                    let t = start.elapsed().as_secs_f64();
                    let tier = *tier.lock().expect("tier");
                    let mut taken = taken.lock().expect("samples");
                    for reading in readings {
                        if let Some(series) = taken
                            .service_usage
                            .iter_mut()
                            .find(|u| u.service == reading.service)
                        {
                            series.samples.push(UsageSample {
                                t,
                                tier,
                                cpu_percent: reading.cpu_percent,
                                rss_mib: reading.rss_kib as f64 / 1024.0,
                            });
                        }
                    }
                    if let Some(states) = sockets {
                        taken.sockets.push(SocketSample { t, tier, states });
                    }
                }
            })
        };
        RunSampler { tier, taken, task }
    }

    /// The tier running from now on.
    pub fn tier_started(&self, tier: Tier) {
        *self.tier.lock().expect("tier") = tier;
    }

    /// Stops sampling: every service read at least once, and the sockets.
    pub fn finish(self) -> Samples {
        self.task.abort();
        let mut taken = std::mem::take(&mut *self.taken.lock().expect("samples"));
        taken.service_usage.retain(|u| !u.samples.is_empty());
        taken
    }
}
