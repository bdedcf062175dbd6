//! Secrets never leave the process: header values that are credentials, in every spelling of a
//! header flag, are redacted in recorded command lines, and text shown or written (error samples,
//! logs, stderr) is scrubbed of the run's own secret values and of anything that looks like a
//! credential (`Bearer …`, `Authorization: …`, a JWT).

use std::borrow::Cow;

pub const REDACTED: &str = "<redacted>";

/// Header names whose values are secrets.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    n == "authorization"
        || n == "proxy-authorization"
        || n == "cookie"
        || n == "set-cookie"
        || n.contains("token")
        || n.contains("api-key")
        || n.contains("apikey")
        || n.contains("secret")
        || n.contains("password")
}

/// `Name: value` with the value redacted when the header is a secret.
pub fn redact_header_line(line: &str) -> String {
    match line.split_once(':') {
        Some((name, _)) if is_secret_header(name) => format!("{name}: {REDACTED}"),
        Some(_) => line.to_string(),
        // Not a header line at all: it may still carry a credential.
        None => scrub(line).into_owned(),
    }
}

/// Flags whose value is a header line (`-H 'Name: value'`).
const HEADER_FLAGS: [&str; 2] = ["-H", "--header"];
/// Flags whose whole value is a secret.
const SECRET_FLAGS: [&str; 7] = [
    "--secret",
    "--jwt-secret",
    "--token",
    "--auth-token",
    "--password",
    "-a",
    "--basic-auth",
];

/// A command line as it may be recorded: header values that are secrets and the values of
/// secret flags redacted, in every spelling (`-H X`, `-HX`, `-H=X`, `--header X`, `--header=X`),
/// and anything credential-like scrubbed.
pub fn redact_command_line(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut pending: Option<ValueRedaction> = None;
    for arg in args {
        if let Some(redact) = pending.take() {
            out.push(redact(arg));
            continue;
        }
        let (redacted, next) = redact_flag(arg);
        out.push(redacted);
        pending = next;
    }
    out
}

fn secret_value(_: &str) -> String {
    REDACTED.to_string()
}

/// How to redact the value a flag takes as the next argument.
type ValueRedaction = fn(&str) -> String;

/// One argument, redacted; and how to redact the next one when this flag takes it as its value.
fn redact_flag(arg: &str) -> (String, Option<ValueRedaction>) {
    for flag in HEADER_FLAGS {
        if arg == flag {
            return (arg.to_string(), Some(redact_header_line));
        }
        if let Some(value) = attached_value(arg, flag) {
            let sep = &arg[flag.len()..arg.len() - value.len()];
            return (format!("{flag}{sep}{}", redact_header_line(value)), None);
        }
    }
    for flag in SECRET_FLAGS {
        if arg == flag {
            return (arg.to_string(), Some(secret_value));
        }
        if let Some(value) = attached_value(arg, flag) {
            let sep = &arg[flag.len()..arg.len() - value.len()];
            return (format!("{flag}{sep}{REDACTED}"), None);
        }
    }
    (scrub(arg).into_owned(), None)
}

/// The value glued to a flag: `--header=V`, `-H=V`, `-HV` (short flags only).
fn attached_value<'a>(arg: &'a str, flag: &str) -> Option<&'a str> {
    let rest = arg.strip_prefix(flag)?;
    if let Some(value) = rest.strip_prefix('=') {
        return Some(value);
    }
    (!flag.starts_with("--") && !rest.is_empty()).then_some(rest)
}

/// Scrubs what looks like a credential: `Bearer <token>`, `Basic <token>`, the value of an
/// `Authorization` (or other secret) header written as `Name: value` or `"name": "value"`, and
/// JWTs.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let suspicious = lower.contains("bearer")
        || lower.contains("basic ")
        || lower.contains("eyj")
        || SECRET_NAMES.iter().any(|n| lower.contains(n));
    if !suspicious {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, len)) = next_secret(rest) {
        out.push_str(&rest[..start]);
        out.push_str(REDACTED);
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Names after which (and a `:` or `=`) a value is a secret.
const SECRET_NAMES: [&str; 7] = [
    "authorization",
    "token",
    "secret",
    "password",
    "api-key",
    "api_key",
    "cookie",
];

/// The first secret value in `text`: (byte offset, length).
fn next_secret(text: &str) -> Option<(usize, usize)> {
    let lower = text.to_ascii_lowercase();
    let mut found: Option<(usize, usize)> = None;
    let mut consider = |candidate: Option<(usize, usize)>| {
        if let Some(c) = candidate.filter(|c| c.1 > 0) {
            if found.is_none_or(|f| c.0 < f.0) {
                found = Some(c);
            }
        }
    };
    for scheme in ["bearer ", "basic "] {
        consider(lower.find(scheme).map(|at| {
            let start = skip_spaces(text, at + scheme.len());
            (start, token_len(&text[start..]))
        }));
    }
    consider(jwt_at(text));
    for name in SECRET_NAMES {
        let mut from = 0;
        while let Some(at) = lower[from..].find(name).map(|i| i + from) {
            from = at + name.len();
            if let Some(value) = value_after_name(text, from) {
                consider(Some(value));
                break;
            }
        }
    }
    found
}

fn skip_spaces(text: &str, from: usize) -> usize {
    from + text[from..].len() - text[from..].trim_start_matches([' ', '\t']).len()
}

/// A token: up to whitespace, a quote, a comma or a closing bracket.
fn token_len(text: &str) -> usize {
    text.find(|c: char| c.is_whitespace() || "\"'`,;)}]<>".contains(c))
        .unwrap_or(text.len())
}

/// After a secret's name: optional closing quote, `:` or `=`, optional spaces and opening
/// quote, then the value (to the end of the line or the closing quote). A value already
/// redacted, or a `Bearer`/`Basic` scheme (scrubbed on its own), is not taken again.
fn value_after_name(text: &str, mut at: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    // The rest of the name: `_key`, `-token`, a closing quote.
    while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || b"_-\"'".contains(&bytes[at])) {
        at += 1;
    }
    at = skip_spaces(text, at);
    if at >= bytes.len() || !b":=".contains(&bytes[at]) {
        return None;
    }
    at = skip_spaces(text, at + 1);
    let quoted = at < bytes.len() && b"\"'".contains(&bytes[at]);
    if quoted {
        at += 1;
    }
    let rest = &text[at..];
    if rest.starts_with(REDACTED) {
        return None;
    }
    let lower = rest.to_ascii_lowercase();
    if lower.starts_with("bearer ") || lower.starts_with("basic ") {
        return None;
    }
    let len = if quoted {
        rest.find(['"', '\'']).unwrap_or(rest.len())
    } else {
        rest.find(['\n', '\r', ',', ';', '}', '&'])
            .unwrap_or(rest.len())
    };
    let value = rest[..len].trim_end();
    Some((at, value.len()))
}

/// A JWT: `eyJ…` header, a dot, a payload, a dot, a signature.
fn jwt_at(text: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(at) = text[from..].find("eyJ").map(|i| i + from) {
        let len = text[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
            .unwrap_or(text.len() - at);
        if text[at..at + len].matches('.').count() >= 2 {
            return Some((at, len));
        }
        from = at + 3;
    }
    None
}

/// Scrubs text of one run's own secret values (the exact header values it sends) as well as of
/// anything credential-like.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    /// Remembers `value` as a secret (values shorter than 4 characters are too common to hunt).
    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.len() >= 4 && !self.secrets.iter().any(|s| s == value) {
            self.secrets.push(value.to_string());
            // A `Bearer x` value: `x` alone may be echoed too.
            if let Some((_, token)) = value.split_once(' ') {
                self.add(token);
            }
        }
    }

    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        match scrub(&out) {
            Cow::Borrowed(_) => out,
            Cow::Owned(s) => Cow::Owned(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_spelling_of_a_header_flag_is_redacted() {
        let line = redact_command_line(&argv(&[
            "load",
            "-H",
            "Authorization: Bearer s3cr3t-1",
            "--header",
            "authorization: Bearer s3cr3t-2",
            "--header=Authorization: Bearer s3cr3t-3",
            "-H=Authorization: Bearer s3cr3t-4",
            "-HAuthorization: Bearer s3cr3t-5",
            "-HX-Api-Key:s3cr3t-6",
            "-H",
            "Accept: text/plain",
            "--secret",
            "s3cr3t-7",
            "--secret=s3cr3t-8",
            "-a",
            "user:s3cr3t-9",
            "--url=http://x/?token=s3cr3t-10",
        ]))
        .join(" ");
        assert!(!line.contains("s3cr3t"), "{line}");
        assert!(line.contains("-H Accept: text/plain"), "{line}");
        assert!(
            line.contains("--header=Authorization: <redacted>"),
            "{line}"
        );
        assert!(line.contains("-HAuthorization: <redacted>"), "{line}");
    }

    #[test]
    fn credential_like_text_is_scrubbed_and_the_rest_kept() {
        for (text, kept) in [
            (
                "HTTP 401: {\"detail\":\"bad\",\"authorization\":\"Bearer abc.def\"}",
                "HTTP 401",
            ),
            (
                "echo: Authorization: Bearer abcdef123\nnext line",
                "next line",
            ),
            ("headers {'Authorization': 'Basic dXNlcjpwYXNz'}", "headers"),
            ("token=abcdef&x=1", "x=1"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig-_x here",
                "here",
            ),
            ("{\"api_key\": \"k-123456\"}", "api_key"),
        ] {
            let out = scrub(text);
            for secret in [
                "abc.def",
                "abcdef123",
                "dXNlcjpwYXNz",
                "abcdef&",
                "sig-_x",
                "k-123456",
            ] {
                assert!(!out.contains(secret), "{text} → {out}");
            }
            assert!(out.contains(kept), "{text} → {out}");
            assert!(out.contains(REDACTED), "{text} → {out}");
        }
        assert!(matches!(scrub("tools/call 200 ok"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_runs_own_secret_is_scrubbed_wherever_it_is_echoed() {
        let mut s = Scrubber::default();
        s.add("Bearer opaque-value-42");
        let out = s.scrub("server said: you sent opaque-value-42 (x)");
        assert_eq!(out, "server said: you sent <redacted> (x)");
    }
}
