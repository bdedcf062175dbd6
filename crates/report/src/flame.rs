//! A flame graph drawn from collapsed stacks (`frame;frame;… count`, py-spy's `--format raw`)
//! as inline SVG — root at the bottom, each frame as wide as its samples, children in name
//! order, a `<title>` per frame for hover — and the top frames by own (self) and inclusive
//! (total) samples.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::xml::escape;

/// One collapsed stack and how many samples ended in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldedStack {
    /// Frames from the outermost to the innermost, `;`-separated.
    pub stack: String,
    pub count: u64,
}

/// Collapsed stacks as py-spy writes them; a line that is not `STACK COUNT` is an error naming
/// it. Repeated stacks are added up, in first-seen order.
pub fn parse(text: &str) -> Result<Vec<FoldedStack>, String> {
    let mut stacks: Vec<FoldedStack> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (stack, count) = line
            .rsplit_once(' ')
            .and_then(|(s, c)| Some((s, c.trim().parse::<u64>().ok()?)))
            .ok_or_else(|| format!("not a collapsed stack: {line}"))?;
        match index.get(stack) {
            Some(&i) => stacks[i].count += count,
            None => {
                index.insert(stack.to_string(), stacks.len());
                stacks.push(FoldedStack {
                    stack: stack.to_string(),
                    count,
                });
            }
        }
    }
    Ok(stacks)
}

/// The stacks as text again (`gateway.folded`).
pub fn to_text(stacks: &[FoldedStack]) -> String {
    stacks
        .iter()
        .map(|s| format!("{} {}\n", s.stack, s.count))
        .collect()
}

#[derive(Default)]
struct Node {
    samples: u64,
    children: BTreeMap<String, Node>,
}

fn tree(stacks: &[FoldedStack]) -> Node {
    let mut root = Node::default();
    for s in stacks {
        root.samples += s.count;
        let mut node = &mut root;
        for frame in s.stack.split(';') {
            node = node.children.entry(frame.to_string()).or_default();
            node.samples += s.count;
        }
    }
    root
}

const WIDTH: f64 = 1200.0;
const ROW: f64 = 17.0;
const PAD: f64 = 10.0;
const TITLE: f64 = 28.0;
const CHAR_WIDTH: f64 = 6.4;
/// Narrower frames are not drawn (their samples stay in their parent's width and in the
/// folded file); browsers choke on tens of thousands of invisible rectangles.
pub const MIN_FRAME_PX: f64 = 0.5;

/// A frame's colour: the gateway's own code (`mcpgateway`) in blue, the rest warm, the shade
/// from the name so a frame looks the same everywhere.
fn color(name: &str) -> String {
    let hash = name.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    let shade = (hash % 60) as u8;
    if name.contains(contextforge::naming::GATEWAY_MODULE) {
        format!("rgb({},{},{})", 80 + shade, 140 + shade / 2, 220)
    } else {
        format!(
            "rgb({},{},{})",
            220 + shade / 3,
            100 + shade * 2,
            40 + shade / 2
        )
    }
}

/// The flame graph; `title` heads it.
pub fn svg(stacks: &[FoldedStack], title: &str) -> String {
    let root = tree(stacks);
    let depth = depth_of(&root);
    let height = TITLE + PAD + depth as f64 * ROW + PAD;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"flame\" id=\"flame-graph\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\"><text class=\"chart-title\" x=\"{PAD}\" y=\"18\">{}</text>",
        escape(title)
    );
    if root.samples == 0 {
        svg.push_str("<text class=\"no-data\" x=\"10\" y=\"50\">no samples</text></svg>");
        return svg;
    }
    let scale = (WIDTH - 2.0 * PAD) / root.samples as f64;
    let bottom = height - PAD - ROW;
    draw(&mut svg, &root, PAD, bottom, scale, root.samples);
    svg.push_str("</svg>");
    svg
}

fn depth_of(node: &Node) -> usize {
    node.children
        .values()
        .map(|c| 1 + depth_of(c))
        .max()
        .unwrap_or(0)
}

/// Draws `node`'s children from `x` on the row at `y` (the next row up for theirs).
fn draw(svg: &mut String, node: &Node, x: f64, y: f64, scale: f64, total: u64) {
    let mut left = x;
    for (name, child) in &node.children {
        let width = child.samples as f64 * scale;
        if width >= MIN_FRAME_PX {
            let share = child.samples as f64 / total as f64 * 100.0;
            let label = fit(name, width);
            let _ = write!(
                svg,
                "<g class=\"frame\"><title>{} ({} samples, {share:.2}%)</title><rect x=\"{left:.2}\" y=\"{y:.1}\" width=\"{width:.2}\" height=\"{:.1}\" fill=\"{}\" rx=\"1\"/>",
                escape(name),
                child.samples,
                ROW - 1.0,
                color(name)
            );
            if !label.is_empty() {
                let _ = write!(
                    svg,
                    "<text x=\"{:.2}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
                    left + 3.0,
                    y + ROW - 5.0,
                    escape(&label)
                );
            }
            svg.push_str("</g>");
            draw(svg, child, left, y - ROW, scale, total);
        }
        left += width;
    }
}

/// As much of `name` as fits in `width` pixels, cut with `…`; empty when not even two
/// characters do.
fn fit(name: &str, width: f64) -> String {
    let room = ((width - 6.0) / CHAR_WIDTH).floor();
    if room < 3.0 {
        return String::new();
    }
    let room = room as usize;
    if name.chars().count() <= room {
        return name.to_string();
    }
    let mut cut: String = name.chars().take(room - 1).collect();
    cut.push('…');
    cut
}

/// A frame's share of every sample.
#[derive(Debug, Clone, PartialEq)]
pub struct TopFrame {
    pub frame: String,
    /// Samples in which it was the innermost frame (running its own code).
    pub self_samples: u64,
    /// Samples in which it was anywhere on the stack (counted once per stack, recursion or not).
    pub total_samples: u64,
    pub self_percent: f64,
    pub total_percent: f64,
}

/// Whether a frame is code: py-spy's `--subprocesses` roots each stack in a `process PID:"…"`
/// frame, and its thread frames name a thread, not a function.
fn is_code(frame: &str) -> bool {
    !(frame.starts_with("process ") || frame.starts_with("thread "))
}

/// The `n` frames with the most own samples (ties: most total, then name), each with both
/// shares.
pub fn top_frames(stacks: &[FoldedStack], n: usize) -> Vec<TopFrame> {
    let all: u64 = stacks.iter().map(|s| s.count).sum();
    let mut frames: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for s in stacks {
        let mut seen: Vec<&str> = Vec::new();
        let code: Vec<&str> = s.stack.split(';').filter(|f| is_code(f)).collect();
        for frame in &code {
            if !seen.contains(frame) {
                seen.push(frame);
                frames.entry(frame).or_default().1 += s.count;
            }
        }
        if let Some(leaf) = code.last() {
            frames.entry(leaf).or_default().0 += s.count;
        }
    }
    let percent = |samples: u64| {
        if all == 0 {
            0.0
        } else {
            samples as f64 / all as f64 * 100.0
        }
    };
    let mut top: Vec<TopFrame> = frames
        .into_iter()
        .map(|(frame, (own, total))| TopFrame {
            frame: frame.to_string(),
            self_samples: own,
            total_samples: total,
            self_percent: percent(own),
            total_percent: percent(total),
        })
        .collect();
    top.sort_by(|a, b| {
        (b.self_samples, b.total_samples)
            .cmp(&(a.self_samples, a.total_samples))
            .then_with(|| a.frame.cmp(&b.frame))
    });
    top.truncate(n);
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLDED: &str = "\
process 7:\"gunicorn\";<module> (mcpgateway/main.py);handle (mcpgateway/transports/http.py);dumps (orjson) 30
process 7:\"gunicorn\";<module> (mcpgateway/main.py);handle (mcpgateway/transports/http.py) 10
process 7:\"gunicorn\";<module> (mcpgateway/main.py);select (selectors.py) 60
process 7:\"gunicorn\";<module> (mcpgateway/main.py);select (selectors.py) 0
";

    #[test]
    fn stacks_are_read_added_up_and_written_back() {
        let stacks = parse(FOLDED).unwrap();
        assert_eq!(stacks.len(), 3, "the repeated stack is one");
        assert_eq!(stacks[2].count, 60);
        assert_eq!(parse(&to_text(&stacks)).unwrap(), stacks);
        assert!(parse("no count here")
            .unwrap_err()
            .contains("no count here"));
    }

    #[test]
    fn frames_are_as_wide_as_their_samples_and_titled_for_hover() {
        let stacks = parse(FOLDED).unwrap();
        let svg = svg(&stacks, "gateway <tier>");
        assert!(svg.contains("gateway &lt;tier&gt;"), "the title is escaped");
        // The root's frame spans the whole width: 100 samples.
        assert!(
            svg.contains("(100 samples, 100.00%)</title><rect x=\"10.00\""),
            "{svg}"
        );
        let width = |title: &str| -> f64 {
            let at = svg.find(&format!("<title>{title}")).unwrap();
            let rest = &svg[at..];
            let w = rest.split("width=\"").nth(1).unwrap();
            w[..w.find('"').unwrap()].parse().unwrap()
        };
        let whole = WIDTH - 2.0 * PAD;
        assert!((width("select (selectors.py) (60 samples, 60.00%)") - whole * 0.6).abs() < 0.01);
        assert!((width("dumps (orjson) (30 samples, 30.00%)") - whole * 0.3).abs() < 0.01);
        // Four levels, one <g> per frame: process, <module>, handle and select, dumps.
        assert_eq!(svg.matches("<g class=\"frame\">").count(), 5);
        // The gateway's own frames are told apart by colour.
        assert_ne!(
            color("handle (mcpgateway/x.py)"),
            color("handle (starlette/x.py)")
        );
        assert_eq!(svg.matches("<g ").count(), svg.matches("</g>").count());
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn top_frames_count_own_and_inclusive_samples_without_process_frames() {
        let stacks = parse(FOLDED).unwrap();
        let top = top_frames(&stacks, 10);
        let names: Vec<&str> = top.iter().map(|t| t.frame.as_str()).collect();
        assert_eq!(
            names,
            [
                "select (selectors.py)",
                "dumps (orjson)",
                "handle (mcpgateway/transports/http.py)",
                "<module> (mcpgateway/main.py)"
            ]
        );
        assert_eq!((top[0].self_percent, top[0].total_percent), (60.0, 60.0));
        assert_eq!((top[2].self_percent, top[2].total_percent), (10.0, 40.0));
        assert_eq!((top[3].self_samples, top[3].total_percent), (0, 100.0));
        assert_eq!(top_frames(&stacks, 1).len(), 1);
        assert!(top_frames(&[], 5).is_empty());
    }

    #[test]
    fn labels_are_cut_to_their_frame() {
        assert_eq!(fit("short", 200.0), "short");
        assert_eq!(fit("a_rather_long_function_name", 60.0), "a_rathe…");
        assert_eq!(fit("anything", 10.0), "");
    }
}
