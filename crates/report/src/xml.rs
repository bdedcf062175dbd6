//! Escaping for the markup this crate writes by hand (SVG charts, JUnit XML), and, for tests, a
//! small well-formedness check of that markup.

/// Text safe inside an XML element or a double- or single-quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped; error samples from a
            // misbehaving server can contain them.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Checks that `text` is well-formed XML as far as this crate's output needs: tags balance,
/// attributes are quoted, `&` only starts a known entity, no raw `<` in text. Returns the
/// element names in document order.
#[cfg(test)]
pub fn check_well_formed(text: &str) -> Result<Vec<String>, String> {
    let body = text
        .strip_prefix("<?xml")
        .map_or(Some(text), |rest| rest.split_once("?>").map(|(_, b)| b))
        .ok_or("unterminated XML declaration")?;
    let mut open: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt])?;
        let gt = rest[lt..].find('>').ok_or("unterminated tag")? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(top) if top == name.trim() => {}
                top => return Err(format!("</{name}> closes {top:?}")),
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let name = &tag[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_:".contains(c))
        {
            return Err(format!("bad element name in <{tag}>"));
        }
        check_attributes(&tag[name_end..])?;
        seen.push(name.to_string());
        if !self_closing {
            open.push(name.to_string());
        }
    }
    check_text(rest)?;
    match open.last() {
        Some(name) => Err(format!("<{name}> is never closed")),
        None => Ok(seen),
    }
}

#[cfg(test)]
fn check_text(text: &str) -> Result<(), String> {
    if text.contains('>') {
        // Legal in XML, but this crate always escapes it; a raw one means text escaped nothing.
        return Err(format!("unescaped '>' in text {text:?}"));
    }
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        let entity_end = rest[amp..].find(';').ok_or("'&' without ';'")? + amp;
        let entity = &rest[amp + 1..entity_end];
        let known = ["amp", "lt", "gt", "quot", "apos"].contains(&entity)
            || entity
                .strip_prefix('#')
                .is_some_and(|n| n.parse::<u32>().is_ok());
        if !known {
            return Err(format!("unknown entity &{entity};"));
        }
        rest = &rest[entity_end + 1..];
    }
    Ok(())
}

#[cfg(test)]
fn check_attributes(mut attrs: &str) -> Result<(), String> {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return Ok(());
        }
        let (name, after) = attrs
            .split_once('=')
            .ok_or_else(|| format!("attribute without value: {attrs}"))?;
        if name.trim().is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("bad attribute name {name:?}"));
        }
        let quote = after.chars().next().filter(|q| *q == '"' || *q == '\'');
        let quote = quote.ok_or_else(|| format!("unquoted attribute {name}"))?;
        let close = after[1..]
            .find(quote)
            .ok_or_else(|| format!("unterminated attribute {name}"))?;
        let value = &after[1..1 + close];
        if value.contains('<') {
            return Err(format!("raw '<' in attribute {name}"));
        }
        check_text(&value.replace('>', "&gt;"))?;
        attrs = &after[close + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_survives_the_well_formedness_check() {
        let nasty = "a<b & \"c\" 'd' > e\u{1}";
        let doc = format!("<r x=\"{0}\">{0}</r>", escape(nasty));
        assert_eq!(check_well_formed(&doc).unwrap(), ["r"]);
        assert!(check_well_formed(&format!("<r>{nasty}</r>")).is_err());
        assert!(check_well_formed("<a><b></a></b>").is_err());
        assert!(check_well_formed("<a x=1/>").is_err());
        assert!(check_well_formed("<?xml version=\"1.0\"?><a/>").is_ok());
    }
}
