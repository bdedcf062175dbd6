//! Templated headers and bodies: `{{uuid}}`, `{{seq}}`, `{{user}}`, `{{iteration}}`,
//! `{{rand_int A B}}`, `{{rand_str N}}`, `{{timestamp}}` (Unix ms), `{{now}}` (RFC 3339).
//! Templates are compiled once; rendering appends to a buffer and allocates nothing else.

use std::fmt::Write as _;

use rand::Rng;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid template: {reason}")]
pub struct TemplateError {
    pub template: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Uuid,
    Seq,
    User,
    Iteration,
    RandInt(i64, i64),
    RandStr(usize),
    TimestampMs,
    Now,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// The per-request values a template may use.
pub struct RenderContext<'a, R: Rng> {
    pub rng: &'a mut R,
    /// Process-wide request sequence number.
    pub seq: u64,
    pub user: u32,
    pub iteration: u64,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let err = |reason: String| TemplateError {
            template: text.to_string(),
            reason,
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| err("unclosed '{{'".into()))?;
            let words: Vec<&str> = after[..close].split_whitespace().collect();
            let int = |w: &str| {
                w.parse::<i64>()
                    .map_err(|_| err(format!("'{w}' is not an integer")))
            };
            parts.push(match words.as_slice() {
                ["uuid"] => Part::Uuid,
                ["seq"] => Part::Seq,
                ["user"] => Part::User,
                ["iteration"] => Part::Iteration,
                ["timestamp"] => Part::TimestampMs,
                ["now"] => Part::Now,
                ["rand_int", a, b] => {
                    let (a, b) = (int(a)?, int(b)?);
                    if a > b {
                        return Err(err(format!("rand_int {a} {b}: the minimum is larger than the maximum")));
                    }
                    Part::RandInt(a, b)
                }
                ["rand_str", n] => Part::RandStr(
                    n.parse()
                        .ok()
                        .filter(|n| *n <= 1 << 20)
                        .ok_or_else(|| err(format!("rand_str needs a length up to 1048576, got '{n}'")))?,
                ),
                other => {
                    return Err(err(format!(
                        "unknown placeholder '{{{{{}}}}}' (known: uuid, seq, user, iteration, timestamp, now, rand_int A B, rand_str N)",
                        other.join(" ")
                    )))
                }
            });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The text, when the template has no placeholders (it can then be rendered once).
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    pub fn render_into<R: Rng>(&self, out: &mut String, ctx: &mut RenderContext<'_, R>) {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Uuid => {
                    let b: [u8; 16] = ctx.rng.gen();
                    let v = (u128::from_be_bytes(b) & !(0xF000 << 64) & !(0xC000 << 48))
                        | (0x4000 << 64)
                        | (0x8000 << 48);
                    let h = format!("{v:032x}");
                    let _ = write!(
                        out,
                        "{}-{}-{}-{}-{}",
                        &h[..8],
                        &h[8..12],
                        &h[12..16],
                        &h[16..20],
                        &h[20..]
                    );
                }
                Part::Seq => {
                    let _ = write!(out, "{}", ctx.seq);
                }
                Part::User => {
                    let _ = write!(out, "{}", ctx.user);
                }
                Part::Iteration => {
                    let _ = write!(out, "{}", ctx.iteration);
                }
                Part::RandInt(a, b) => {
                    let _ = write!(out, "{}", ctx.rng.gen_range(*a..=*b));
                }
                Part::RandStr(n) => {
                    const ALPHABET: &[u8] =
                        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                    out.extend(
                        (0..*n).map(|_| ALPHABET[ctx.rng.gen_range(0..ALPHABET.len())] as char),
                    );
                }
                Part::TimestampMs => {
                    let _ = write!(out, "{}", chrono::Utc::now().timestamp_millis());
                }
                Part::Now => out.push_str(
                    &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                ),
            }
        }
    }

    pub fn render<R: Rng>(&self, ctx: &mut RenderContext<'_, R>) -> String {
        let mut s = String::new();
        self.render_into(&mut s, ctx);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn render(t: &str, seq: u64) -> String {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        Template::parse(t).unwrap().render(&mut RenderContext {
            rng: &mut rng,
            seq,
            user: 7,
            iteration: 3,
        })
    }

    #[test]
    fn placeholders_render() {
        assert_eq!(
            render("id={{seq}} u={{user}} i={{iteration}}", 42),
            "id=42 u=7 i=3"
        );
        let n: i64 = render("{{rand_int 5 9}}", 0).parse().unwrap();
        assert!((5..=9).contains(&n));
        assert_eq!(render("{{rand_str 12}}", 0).len(), 12);
        let uuid = render("{{uuid}}", 0);
        assert_eq!(uuid.len(), 36);
        assert_eq!(Template::parse("plain").unwrap().literal(), Some("plain"));
        assert_eq!(Template::parse("a{{seq}}").unwrap().literal(), None);
        assert_eq!(&uuid[14..15], "4");
        assert!("89ab".contains(&uuid[19..20]), "{uuid}");
        // JSON bodies close nested objects with "}}": that is text, not a placeholder.
        assert_eq!(render(r#"{"a":{"b":1}}"#, 0), r#"{"a":{"b":1}}"#);
    }

    #[test]
    fn malformed_templates_are_refused_with_the_reason() {
        for (t, why) in [
            ("{{seq", "unclosed"),
            ("{{nope}}", "unknown placeholder"),
            ("{{rand_int 9 1}}", "larger"),
            ("{{rand_int a 1}}", "not an integer"),
        ] {
            let e = Template::parse(t).unwrap_err();
            assert!(e.to_string().contains(why), "{t}: {e}");
        }
    }
}
