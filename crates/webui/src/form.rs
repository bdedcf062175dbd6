//! The page's run form, checked field by field before anything starts: a bad field gets a
//! message of its own (shown beside it) and no run. A valid form becomes the `load-test` flags
//! it stands for, so a run from the page is the run that command line makes.

use std::collections::BTreeMap;
use std::time::Duration;

use contextforge::workloads::{self, ClassKind};
use serde::{Deserialize, Serialize};

/// The longest run the page starts (every load loop is bounded).
pub const LONGEST_RUN: Duration = Duration::from_secs(24 * 3600);
/// The most users (or requests in flight) the page allows.
pub const MOST_USERS: u32 = 100_000;

/// The form as the page sends it: every field the text the person typed.
#[derive(Debug, Default, Deserialize)]
pub struct FormInput {
    #[serde(default)]
    pub tier: String,
    #[serde(default)]
    pub classes: String,
    #[serde(default)]
    pub users: String,
    #[serde(default)]
    pub spawn_rate: String,
    /// Empty: users loop (closed model); a rate: arrivals per second (open model).
    #[serde(default)]
    pub rate: String,
    #[serde(default)]
    pub run_time: String,
}

/// What a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Direct,
    Gateway,
    Nginx,
    Rest,
    /// The same settings on direct, the gateway and nginx in turn: the overhead table.
    Compare,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Direct,
        Scope::Gateway,
        Scope::Nginx,
        Scope::Rest,
        Scope::Compare,
    ];

    /// The `load-test --tiers` value.
    pub fn tiers(self) -> &'static str {
        match self {
            Scope::Direct => "direct",
            Scope::Gateway => "gateway",
            Scope::Nginx => "nginx",
            Scope::Rest => "rest",
            Scope::Compare => "direct,gateway,nginx",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Scope::Direct => "direct (bench-server)",
            Scope::Gateway => "gateway",
            Scope::Nginx => "nginx → gateway",
            Scope::Rest => "REST API (gateway)",
            Scope::Compare => "compare tiers (direct, gateway, nginx)",
        }
    }

    pub fn class_kind(self) -> ClassKind {
        match self {
            Scope::Rest => ClassKind::Rest,
            _ => ClassKind::Mcp,
        }
    }

    fn parse(text: &str) -> Option<Scope> {
        Scope::ALL
            .into_iter()
            .find(|s| s.tiers() == text.trim())
            .or((text.trim() == "compare").then_some(Scope::Compare))
    }
}

/// How load is offered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Pace {
    /// Users started at `spawn_rate` per second, each looping with its class's wait.
    Users { spawn_rate: f64 },
    /// Arrivals per second, at most `users` in flight.
    Arrivals { rate: f64 },
}

/// A checked form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub scope: Scope,
    /// Locust's class picker, with every weight spelled out.
    pub classes: String,
    pub users: u32,
    pub pace: Pace,
    #[serde(serialize_with = "secs")]
    pub run_time: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Messages by field name.
pub type FieldErrors = BTreeMap<&'static str, String>;

impl FormInput {
    /// Every field checked; all the bad ones said at once.
    pub fn check(&self) -> Result<Settings, FieldErrors> {
        let mut errors = FieldErrors::new();
        let scope = take(
            &mut errors,
            "tier",
            Scope::parse(&self.tier).ok_or_else(|| format!("unknown tier '{}'", self.tier.trim())),
        );
        let kind = scope.map_or(ClassKind::Mcp, Scope::class_kind);
        let classes = take(&mut errors, "classes", classes(&self.classes, kind));
        let users = take(&mut errors, "users", users(&self.users));
        let spawn_rate = take(
            &mut errors,
            "spawn_rate",
            positive_rate(&self.spawn_rate, "the spawn rate"),
        );
        let rate = take(
            &mut errors,
            "rate",
            match self.rate.trim() {
                "" => Ok(None),
                text => positive_rate(text, "the arrival rate").map(Some),
            },
        );
        let run_time = take(&mut errors, "run_time", run_time(&self.run_time));
        match (scope, classes, users, spawn_rate, rate, run_time) {
            (
                Some(scope),
                Some(classes),
                Some(users),
                Some(spawn_rate),
                Some(rate),
                Some(run_time),
            ) if errors.is_empty() => Ok(Settings {
                scope,
                classes,
                users,
                pace: rate.map_or(Pace::Users { spawn_rate }, |rate| Pace::Arrivals { rate }),
                run_time,
            }),
            _ => Err(errors),
        }
    }
}

/// The value, or its message filed under `name`.
fn take<T>(errors: &mut FieldErrors, name: &'static str, result: Result<T, String>) -> Option<T> {
    result.map_err(|m| errors.insert(name, m)).ok()
}

/// The picker's text with every class known, of the tier's kind, and its weight spelled out.
fn classes(text: &str, kind: ClassKind) -> Result<String, String> {
    let picks = workloads::parse_class_picks(text, kind, workloads::WeightTable::Locustfile)?;
    Ok(picker_text(&picks))
}

pub fn picker_text(picks: &[workloads::ClassPick]) -> String {
    picks
        .iter()
        .map(|p| format!("{}:{}", p.name, p.weight))
        .collect::<Vec<_>>()
        .join(",")
}

/// A count of users (or requests in flight): a whole number from 1 to [`MOST_USERS`] that the
/// process's descriptor limit can hold.
pub fn users(text: &str) -> Result<u32, String> {
    let users: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{}' is not a whole number", text.trim()))?;
    if users < 1 || users > i64::from(MOST_USERS) {
        return Err(format!("users must be from 1 to {MOST_USERS}, not {users}"));
    }
    loadgen::check_descriptors(users as u64)?;
    Ok(users as u32)
}

/// A rate per second above zero (`5`, `2.5`, `100/s`).
pub fn positive_rate(text: &str, what: &str) -> Result<f64, String> {
    let rate = loadgen::parse_rate(text.trim()).map_err(|e| e.to_string())?;
    if rate <= 0.0 {
        return Err(format!("{what} must be above zero"));
    }
    Ok(rate)
}

fn run_time(text: &str) -> Result<Duration, String> {
    let d = loadgen::parse_duration(text.trim()).map_err(|e| e.to_string())?;
    if d.is_zero() || d > LONGEST_RUN {
        return Err(format!(
            "the run time must be above zero and at most {} h",
            LONGEST_RUN.as_secs() / 3600
        ));
    }
    Ok(d)
}

impl Settings {
    /// The `load-test` flags this form stands for (the arrival rate, which `load-test` takes
    /// from a profile file, is applied to the resolved profile instead).
    pub fn flags(&self) -> Vec<String> {
        let class_flag = match self.scope.class_kind() {
            ClassKind::Mcp => "--mcp-classes",
            ClassKind::Rest => "--rest-classes",
        };
        let mut flags = vec![
            "--tiers".to_string(),
            self.scope.tiers().into(),
            class_flag.into(),
            self.classes.clone(),
            "--users".into(),
            self.users.to_string(),
            "--run-time".into(),
            format!("{}s", self.run_time.as_secs_f64()),
        ];
        if let Pace::Users { spawn_rate } = self.pace {
            flags.extend(["--spawn-rate".into(), spawn_rate.to_string()]);
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(users: &str, classes: &str, rate: &str) -> FormInput {
        FormInput {
            tier: "direct".into(),
            classes: classes.into(),
            users: users.into(),
            spawn_rate: "2".into(),
            rate: rate.into(),
            run_time: "30s".into(),
        }
    }

    #[test]
    fn a_good_form_becomes_settings_with_every_weight_spelled_out() {
        let settings = form("10", "MCPToolCallerUser, MCPAgentUser:3", "")
            .check()
            .unwrap();
        assert_eq!(settings.classes, "MCPToolCallerUser:5,MCPAgentUser:3");
        assert_eq!(settings.pace, Pace::Users { spawn_rate: 2.0 });
        assert!(settings
            .flags()
            .join(" ")
            .contains("--tiers direct --mcp-classes"));
        let open = form("10", "MCPAgentUser", "50").check().unwrap();
        assert_eq!(open.pace, Pace::Arrivals { rate: 50.0 });
    }

    #[test]
    fn each_bad_field_gets_its_own_message() {
        let errors = form("-5", "NoSuchUser", "0").check().unwrap_err();
        assert!(errors["users"].contains("from 1"), "{errors:?}");
        assert!(
            errors["classes"].contains("unknown user class 'NoSuchUser'"),
            "{errors:?}"
        );
        assert!(errors["rate"].contains("rate '0'"), "{errors:?}");
        let mut rest_on_mcp = form("1", "HealthCheckUser", "");
        rest_on_mcp.run_time = "25h".into();
        let errors = rest_on_mcp.check().unwrap_err();
        assert!(errors["classes"].contains("REST class"), "{errors:?}");
        assert!(errors["run_time"].contains("at most 24 h"), "{errors:?}");
        let mut tier = form("1", "MCPAgentUser", "");
        tier.tier = "mars".into();
        assert_eq!(tier.check().unwrap_err()["tier"], "unknown tier 'mars'");
    }
}
