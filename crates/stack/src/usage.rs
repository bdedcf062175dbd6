//! What each service of a running stack uses — CPU and resident memory — read the way its
//! runtime allows: the local runtime's process groups from `/proc` (CPU time of every process of
//! the group between two readings, their RSS summed), containers from the engine's stats (one
//! shot per container per reading; CPU time against the host's, as `docker stats` does, memory
//! without the inactive file cache). CPU is a percentage of one core: two busy cores are 200%.

use std::time::Instant;

use bollard::query_parameters::StatsOptions;
use bollard::Docker;
use futures_util::StreamExt;

use crate::process::{self, GroupReading, ProcessId};
use crate::state::{Runtime, StackState};

/// One service at one reading.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceReading {
    pub service: String,
    /// None at a service's first reading: CPU is a rate between two.
    pub cpu_percent: Option<f64>,
    pub rss_kib: u64,
}

/// Where a service's numbers come from, with its previous reading.
enum Source {
    Group {
        process: ProcessId,
        last: Option<(GroupReading, Instant)>,
    },
    Container {
        id: String,
        /// The container's and the host's CPU time (ns) at the previous reading.
        last: Option<(u64, u64)>,
    },
}

/// Reads every service of a stack, again and again.
pub struct Meter {
    services: Vec<(String, Source)>,
    /// The engine, for a stack of containers.
    engine: Option<Docker>,
    ticks_per_second: f64,
}

impl Meter {
    /// Every service `state` records; an error when its container engine does not answer.
    pub async fn of(state: &StackState) -> Result<Meter, String> {
        let (services, engine) = match state.runtime {
            Runtime::Local => (
                state
                    .services
                    .iter()
                    .map(|s| {
                        let process = s.process.clone();
                        (
                            s.name.clone(),
                            Source::Group {
                                process,
                                last: None,
                            },
                        )
                    })
                    .collect(),
                None,
            ),
            Runtime::Docker => (
                state
                    .containers
                    .iter()
                    .map(|c| {
                        let id = c.container_id.clone();
                        (c.name.clone(), Source::Container { id, last: None })
                    })
                    .collect(),
                Some(crate::docker::connect().await?),
            ),
        };
        Ok(Meter {
            services,
            engine,
            ticks_per_second: process::ticks_per_second(),
        })
    }

    /// The services it reads, in the stack's start order.
    pub fn services(&self) -> Vec<String> {
        self.services.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Every service that could be read now (one that is gone is left out).
    pub async fn read(&mut self) -> Vec<ServiceReading> {
        let mut readings = Vec::new();
        for (service, source) in &mut self.services {
            let reading = match source {
                Source::Group { process, last } => read_group(process, last, self.ticks_per_second),
                Source::Container { id, last } => match &self.engine {
                    Some(engine) => read_container(engine, id, last).await,
                    None => None,
                },
            };
            if let Some((cpu_percent, rss_kib)) = reading {
                readings.push(ServiceReading {
                    service: service.clone(),
                    cpu_percent,
                    rss_kib,
                });
            }
        }
        readings
    }
}

fn read_group(
    process: &ProcessId,
    last: &mut Option<(GroupReading, Instant)>,
    ticks_per_second: f64,
) -> Option<(Option<f64>, u64)> {
    let now = (process.group_reading()?, Instant::now());
    let cpu = last.as_ref().map(|(before, at)| {
        let seconds = now.1.duration_since(*at).as_secs_f64();
        process::cpu_percent(before, &now.0, seconds, ticks_per_second)
    });
    let rss = now.0.rss_kib;
    *last = Some(now);
    Some((cpu, rss))
}

async fn read_container(
    engine: &Docker,
    id: &str,
    last: &mut Option<(u64, u64)>,
) -> Option<(Option<f64>, u64)> {
    let options = StatsOptions {
        stream: false,
        one_shot: true,
    };
    let stats = engine.stats(id, Some(options)).next().await?.ok()?;
    let cpu_stats = stats.cpu_stats?;
    let container = cpu_stats.cpu_usage.and_then(|u| u.total_usage)?;
    let host = cpu_stats.system_cpu_usage?;
    let cores = f64::from(cpu_stats.online_cpus.unwrap_or(1).max(1));
    let cpu = last.map(|before| container_cpu_percent(before, (container, host), cores));
    *last = Some((container, host));
    let memory = stats.memory_stats?;
    let cache = memory.stats.as_ref().and_then(|s| {
        s.get("inactive_file")
            .or_else(|| s.get("total_inactive_file"))
            .copied()
    });
    let bytes = memory.usage?.saturating_sub(cache.unwrap_or(0));
    Some((cpu, bytes / 1024))
}

/// `docker stats`' CPU: the container's CPU time over the host's (all cores) between two
/// readings, times the cores — a percentage of one core.
fn container_cpu_percent(before: (u64, u64), after: (u64, u64), cores: f64) -> f64 {
    let container = after.0.saturating_sub(before.0) as f64;
    let host = after.1.saturating_sub(before.1) as f64;
    if host <= 0.0 {
        return 0.0;
    }
    container / host * cores * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_cpu_is_its_share_of_the_host_times_the_cores() {
        // Half of all the host's CPU time on a 2-core host: one core's worth.
        let cpu = container_cpu_percent((1_000, 10_000), (6_000, 20_000), 2.0);
        assert!((cpu - 100.0).abs() < 1e-9);
        assert_eq!(container_cpu_percent((5, 7), (5, 7), 2.0), 0.0);
    }
}
