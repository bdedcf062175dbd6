//! A minimal leveled logger to stderr: the server logs little, and never on the request path
//! unless asked for `debug`.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::config::LogLevel;

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);

pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: LogLevel) -> bool {
    level != LogLevel::None && level as u8 >= LEVEL.load(Ordering::Relaxed)
}

pub fn write(level: LogLevel, args: std::fmt::Arguments<'_>) {
    if enabled(level) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        eprintln!("{now} {level:?} bench-server: {args}");
    }
}

macro_rules! info {
    ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Info, format_args!($($t)*)) };
}
macro_rules! warning {
    ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Warn, format_args!($($t)*)) };
}
macro_rules! debug {
    ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Debug, format_args!($($t)*)) };
}
pub(crate) use {debug, info, warning};
