//! Every service of the stack — gateway, nginx, bench servers, PostgreSQL and Redis when they
//! run — sampled through every tier: CPU and resident memory per reading, each tagged with the
//! tier running (`stack::usage` reads them the runtime's way). The gateway's series is also the
//! soak profile's leak check.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use report::{ServiceUsage, Tier, UsageSample};

/// A sampler running in the background; `finish` stops it and hands over what it took.
pub struct ServiceSampler {
    tier: Arc<Mutex<Tier>>,
    usage: Arc<Mutex<Vec<ServiceUsage>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ServiceSampler {
    /// Starts reading `meter` every `every`, the first reading now.
    pub fn start(mut meter: stack::usage::Meter, every: Duration, first: Tier) -> ServiceSampler {
        let tier = Arc::new(Mutex::new(first));
        let usage = Arc::new(Mutex::new(
            meter
                .services()
                .into_iter()
                .map(|service| ServiceUsage {
                    service,
                    samples: vec![],
                })
                .collect::<Vec<_>>(),
        ));
        let task = {
            let (tier, usage) = (tier.clone(), usage.clone());
            let start = Instant::now();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    let readings = meter.read().await;
                    let t = start.elapsed().as_secs_f64();
                    let tier = *tier.lock().expect("tier");
                    let mut usage = usage.lock().expect("usage");
                    for reading in readings {
                        if let Some(series) =
                            usage.iter_mut().find(|u| u.service == reading.service)
                        {
                            series.samples.push(UsageSample {
                                t,
                                tier,
                                cpu_percent: reading.cpu_percent,
                                rss_mib: reading.rss_kib as f64 / 1024.0,
                            });
                        }
                    }
                }
            })
        };
        ServiceSampler { tier, usage, task }
    }

    /// The tier running from now on.
    pub fn tier_started(&self, tier: Tier) {
        *self.tier.lock().expect("tier") = tier;
    }

    /// Every service read at least once, with its readings.
    pub fn finish(self) -> Vec<ServiceUsage> {
        self.task.abort();
        let mut usage = std::mem::take(&mut *self.usage.lock().expect("usage"));
        usage.retain(|u| !u.samples.is_empty());
        usage
    }
}
