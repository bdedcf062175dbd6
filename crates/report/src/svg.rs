//! Two chart shapes drawn as inline SVG — lines (solid or dashed) over a linear or percentile
//! axis, and grouped bars — so `report.html` and `capacity.html` need no script, font or network
//! asset to show them. A legend wider than the chart wraps, and the plot moves down under it.

use std::fmt::Write as _;

use crate::xml::escape;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
/// Room for half of the last x label ("99.999%") at the right edge.
const RIGHT: f64 = 28.0;
/// Title row, then legend row, then the plot.
const TOP: f64 = 52.0;
/// Each further legend row moves the plot down this much.
const LEGEND_ROW: f64 = 16.0;
const BOTTOM: f64 = 44.0;
/// Rough width of a legend character at the chart's font size (no font metrics without a
/// browser; a little slack is harmless).
const CHAR_WIDTH: f64 = 6.6;

/// How x values map to the horizontal axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XScale {
    Linear,
    /// x is a count of nines, −log10(1 − q): 0 is 0%, 1 is 90%, 2 is 99% … 5 is 99.999%, as
    /// HdrHistogram's percentile plots draw them.
    Nines,
}

/// How y values map to the vertical axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum YScale {
    /// From zero.
    Linear,
    /// Decades equally spaced, so lines 20× apart (direct vs gateway latency) both stay
    /// readable. Values must be positive (HDR latencies are at least 1 µs).
    Log,
}

/// The highest count of nines the percentile axis shows (99.999%).
pub const MAX_NINES: f64 = 5.0;

/// How a line is drawn: a dashed one is a second measure of the same series (p99 beside p95)
/// or a limit (an SLO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
}

pub struct Line {
    pub label: String,
    pub color: &'static str,
    pub stroke: Stroke,
    /// (x, y) in x order; a NaN y is an interval without data, where the line breaks rather
    /// than joining its neighbours.
    pub points: Vec<(f64, f64)>,
}

pub struct LineChart {
    pub id: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: XScale,
    pub y_scale: YScale,
    pub lines: Vec<Line>,
    /// Vertical marks across the plot at these x values, labelled (where each tier starts).
    pub markers: Vec<(f64, String)>,
}

/// Bars side by side in each group: one bar per series (`series[i]` colours `values[i]`).
pub struct BarChart {
    pub id: String,
    pub title: String,
    pub y_label: String,
    pub series: Vec<(String, &'static str)>,
    pub groups: Vec<(String, Vec<f64>)>,
}

struct Frame {
    /// Where the plot starts, below the title and the legend's rows.
    top: f64,
    x: (f64, f64),
    y: (f64, f64),
    y_scale: YScale,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (WIDTH - LEFT - RIGHT)
    }
    fn py(&self, y: f64) -> f64 {
        let ((lo, hi), y) = match self.y_scale {
            YScale::Linear => (self.y, y),
            YScale::Log => (
                (self.y.0.log10(), self.y.1.log10()),
                y.max(self.y.0).log10(),
            ),
        };
        HEIGHT - BOTTOM - (y - lo) / (hi - lo) * (HEIGHT - self.top - BOTTOM)
    }
}

impl LineChart {
    pub fn render(&self) -> String {
        let points = || {
            self.lines
                .iter()
                .flat_map(|l| l.points.iter())
                .filter(|p| p.1.is_finite())
        };
        let mut svg = open(&self.id, &self.title);
        let top = legend(
            &mut svg,
            self.lines.iter().map(|l| (l.label.as_str(), l.color)),
        );
        if points().next().is_none() {
            return no_data(svg);
        }
        let x = match self.x_scale {
            XScale::Linear => span(points().map(|p| p.0)),
            XScale::Nines => (0.0, MAX_NINES),
        };
        let highest = points().map(|p| p.1).fold(0.0, f64::max);
        let y_ticks = match self.y_scale {
            YScale::Linear => labelled(ticks(0.0, highest)),
            YScale::Log => log_ticks(
                points()
                    .map(|p| p.1)
                    .filter(|y| *y > 0.0)
                    .fold(highest, f64::min),
                highest,
            ),
        };
        let frame = Frame {
            top,
            x,
            y: bounds(&y_ticks),
            y_scale: self.y_scale,
        };
        let x_ticks: Vec<(f64, String)> = match self.x_scale {
            XScale::Linear => {
                let t = ticks(x.0, x.1);
                let step = t.get(1).map_or(1.0, |s| s - t[0]);
                t.into_iter()
                    .filter(|v| *v >= x.0 && *v <= x.1)
                    .map(|v| (v, tick_label(v, step)))
                    .collect()
            }
            XScale::Nines => (0..=MAX_NINES as u32)
                .map(|n| (f64::from(n), nines_label(n)))
                .collect(),
        };
        axes(
            &mut svg,
            &frame,
            &x_ticks,
            &y_ticks,
            &self.x_label,
            &self.y_label,
        );
        markers(&mut svg, &frame, &self.markers);
        svg.push_str("<g class=\"series\">");
        for line in &self.lines {
            let label = escape(&line.label);
            for run in line.points.split(|p| !p.1.is_finite()) {
                draw_run(&mut svg, &frame, (&label, line.color, line.stroke), run);
            }
        }
        svg.push_str("</g></svg>");
        svg
    }
}

/// Dashed vertical lines at `marks` inside the plot, each labelled at its top.
fn markers(svg: &mut String, frame: &Frame, marks: &[(f64, String)]) {
    if marks.is_empty() {
        return;
    }
    svg.push_str("<g class=\"markers\">");
    for (x, label) in marks
        .iter()
        .filter(|(x, _)| *x >= frame.x.0 && *x <= frame.x.1)
    {
        let px = frame.px(*x);
        let _ = write!(
            svg,
            "<line class=\"marker\" x1=\"{px:.1}\" y1=\"{TOP:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#8a939c\" stroke-dasharray=\"4 3\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            HEIGHT - BOTTOM,
            px + 3.0,
            TOP + 10.0,
            escape(label)
        );
    }
    svg.push_str("</g>");
}

/// One unbroken run of a line's points: a dot when it is one point, else a path.
fn draw_run(
    svg: &mut String,
    frame: &Frame,
    (label, color, stroke): (&str, &str, Stroke),
    run: &[(f64, f64)],
) {
    match run {
        [] => {}
        [(x, y)] => {
            let _ = write!(
                svg,
                "<circle class=\"point\" data-series=\"{label}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                frame.px(*x),
                frame.py(*y),
            );
        }
        many => {
            let d: Vec<String> = many
                .iter()
                .enumerate()
                .map(|(i, (x, y))| {
                    let cmd = if i == 0 { 'M' } else { 'L' };
                    format!("{cmd}{:.1} {:.1}", frame.px(*x), frame.py(*y))
                })
                .collect();
            let dash = match stroke {
                Stroke::Solid => "",
                Stroke::Dashed => " stroke-dasharray=\"6 4\"",
            };
            let _ = write!(
                svg,
                "<path class=\"line\" data-series=\"{label}\" d=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" stroke-linejoin=\"round\"{dash}/>",
                d.join(" "),
            );
        }
    }
}

impl BarChart {
    pub fn render(&self) -> String {
        let mut svg = open(&self.id, &self.title);
        let top = legend(&mut svg, self.series.iter().map(|(l, c)| (l.as_str(), *c)));
        let values = || self.groups.iter().flat_map(|g| g.1.iter().copied());
        if self.groups.is_empty() {
            return no_data(svg);
        }
        let y_ticks = labelled(ticks(
            values().fold(0.0, f64::min),
            values().fold(0.0, f64::max),
        ));
        let frame = Frame {
            top,
            x: (0.0, self.groups.len() as f64),
            y: bounds(&y_ticks),
            y_scale: YScale::Linear,
        };
        let x_ticks: Vec<(f64, String)> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (i as f64 + 0.5, g.0.clone()))
            .collect();
        axes(&mut svg, &frame, &x_ticks, &y_ticks, "", &self.y_label);
        let group_width = frame.px(1.0) - frame.px(0.0);
        let bar_width = group_width * 0.7 / self.series.len().max(1) as f64;
        let zero = frame.py(0.0);
        svg.push_str("<g class=\"series\">");
        for (g, (group, values)) in self.groups.iter().enumerate() {
            for (i, value) in values.iter().enumerate() {
                let (series, color) = &self.series[i];
                let x = frame.px(g as f64) + group_width * 0.15 + bar_width * i as f64;
                let y = frame.py(*value);
                let _ = write!(
                    svg,
                    "<rect class=\"bar\" data-series=\"{s}\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{color}\"><title>{g}: {s} {value:+.2}</title></rect>\
                     <text class=\"value\" x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\">{value:+.2}</text>",
                    s = escape(series),
                    g = escape(group),
                    top = y.min(zero),
                    w = bar_width * 0.9,
                    h = (y - zero).abs().max(0.5),
                    cx = x + bar_width * 0.45,
                    ty = if *value >= 0.0 { y - 4.0 } else { y + 12.0 },
                );
            }
        }
        svg.push_str("</g></svg>");
        svg
    }
}

fn open(id: &str, title: &str) -> String {
    let (id, title) = (escape(id), escape(title));
    format!(
        "<svg class=\"chart\" id=\"{id}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-labelledby=\"{id}-title\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{title}</title>\
         <text class=\"chart-title\" x=\"{LEFT}\" y=\"18\">{title}</text>"
    )
}

/// The legend, in rows as wide as the chart; returns where the plot starts below it.
fn legend<'a>(svg: &mut String, entries: impl Iterator<Item = (&'a str, &'static str)>) -> f64 {
    svg.push_str("<g class=\"legend\">");
    let (mut x, mut row) = (LEFT, 0.0);
    for (label, color) in entries {
        let width = 16.0 + label.chars().count() as f64 * CHAR_WIDTH + 18.0;
        if x > LEFT && x + width > WIDTH - RIGHT {
            (x, row) = (LEFT, row + 1.0);
        }
        let y = 28.0 + row * LEGEND_ROW;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 16.0,
            y + 10.0,
            escape(label)
        );
        x += width;
    }
    svg.push_str("</g>");
    TOP + row * LEGEND_ROW
}

fn no_data(mut svg: String) -> String {
    let _ = write!(
        svg,
        "<text class=\"no-data\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text></svg>",
        WIDTH / 2.0,
        HEIGHT / 2.0
    );
    svg
}

fn axes(
    svg: &mut String,
    frame: &Frame,
    x_ticks: &[(f64, String)],
    y_ticks: &[(f64, String)],
    x_label: &str,
    y_label: &str,
) {
    let (left, right) = (LEFT, WIDTH - RIGHT);
    let (top, bottom) = (frame.top, HEIGHT - BOTTOM);
    svg.push_str("<g class=\"grid\">");
    for (y, label) in y_ticks {
        let py = frame.py(*y);
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{right}\" y1=\"{py:.1}\" y2=\"{py:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            py + 4.0,
            escape(label)
        );
    }
    for (x, label) in x_ticks {
        let px = frame.px(*x);
        let _ = write!(
            svg,
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{top}\" y2=\"{bottom}\"/><text class=\"tick\" x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 16.0,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        "</g><g class=\"axes\"><line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{bottom}\"/><line x1=\"{left}\" x2=\"{right}\" y1=\"{bottom}\" y2=\"{bottom}\"/>\
         <text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
         <text class=\"axis-label\" transform=\"rotate(-90)\" x=\"{:.1}\" y=\"14\" text-anchor=\"middle\">{}</text></g>",
        (left + right) / 2.0,
        HEIGHT - 6.0,
        escape(x_label),
        -(top + bottom) / 2.0,
        escape(y_label)
    );
}

/// The smallest and largest value, widened when they coincide so the axis has a length.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, hi + 1.0)
    }
}

/// About five round tick values (steps of 1, 2 or 5 × 10ⁿ) covering `lo..=hi`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
    let rough = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Linear ticks with as many decimals as their step needs.
fn labelled(ticks: Vec<f64>) -> Vec<(f64, String)> {
    let step = ticks.get(1).map_or(1.0, |s| s - ticks[0]);
    ticks
        .into_iter()
        .map(|v| (v, tick_label(v, step)))
        .collect()
}

/// Powers of ten covering `lo..=hi` (both positive), with 2× and 5× between them when there
/// are only one or two decades to show.
fn log_ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    let first = lo.log10().floor() as i32;
    let last = (hi.log10().ceil() as i32).max(first + 1);
    let multiples: &[f64] = if last - first <= 2 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let top = 10f64.powi(last);
    (first..=last)
        .flat_map(|e| multiples.iter().map(move |m| m * 10f64.powi(e)))
        .filter(|v| *v <= top)
        .map(|v| (v, tick_label(v, v)))
        .collect()
}

fn bounds(ticks: &[(f64, String)]) -> (f64, f64) {
    let first = ticks.first().expect("ticks are never empty").0;
    (first, ticks.last().expect("ticks are never empty").0)
}

/// As many decimals as the tick step needs.
fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{value:.decimals$}")
}

fn nines_label(nines: u32) -> String {
    match nines {
        0 => "0%".into(),
        1 => "90%".into(),
        n => format!("99.{}%", "9".repeat(n as usize - 2)).replace(".%", "%"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::check_well_formed;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 9.3), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(-3.0, 12.0), [-5.0, 0.0, 5.0, 10.0, 15.0]);
        assert_eq!(ticks(0.0, 0.0).len(), 6);
        assert_eq!(tick_label(0.25, 0.05), "0.25");
        let labels = |ticks: Vec<(f64, String)>| ticks.into_iter().map(|t| t.1).collect::<Vec<_>>();
        assert_eq!(
            labels(log_ticks(0.4, 180.0)),
            ["0.1", "1", "10", "100", "1000"]
        );
        assert_eq!(labels(log_ticks(12.0, 15.0)), ["10", "20", "50", "100"]);
        assert_eq!(
            labels(log_ticks(0.02, 0.9)),
            ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1"]
        );
        assert_eq!(
            (0..=5).map(nines_label).collect::<Vec<_>>(),
            ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        );
    }

    #[test]
    fn charts_are_well_formed_svg_with_escaped_labels() {
        let line = LineChart {
            id: "chart-test".into(),
            title: "a <b> & c".into(),
            x_label: "s".into(),
            y_label: "ms".into(),
            x_scale: XScale::Linear,
            y_scale: YScale::Log,
            markers: vec![],
            lines: vec![
                Line {
                    label: "p<50>".into(),
                    color: "#123456",
                    stroke: Stroke::Solid,
                    points: vec![(1.0, 2.0), (2.0, 3.0)],
                },
                Line {
                    label: "one".into(),
                    color: "#654321",
                    stroke: Stroke::Dashed,
                    points: vec![(1.5, 1.0)],
                },
            ],
        }
        .render();
        let elements = check_well_formed(&line).unwrap();
        assert!(elements.contains(&"path".to_string()) && elements.contains(&"circle".to_string()));
        assert!(line.contains("p&lt;50&gt;"));

        let bars = BarChart {
            id: "chart-bars".into(),
            title: "added".into(),
            y_label: "ms".into(),
            series: vec![("p50".into(), "#111111"), ("p99".into(), "#222222")],
            groups: vec![("gateway".into(), vec![1.5, -0.5])],
        }
        .render();
        let elements = check_well_formed(&bars).unwrap();
        assert_eq!(elements.iter().filter(|e| *e == "rect").count(), 2 + 2); // bars + legend keys
    }

    #[test]
    fn an_empty_chart_says_no_data() {
        let empty = LineChart {
            id: "chart-empty".into(),
            title: "nothing".into(),
            x_label: String::new(),
            y_label: String::new(),
            x_scale: XScale::Nines,
            y_scale: YScale::Linear,
            markers: vec![],
            lines: vec![],
        }
        .render();
        check_well_formed(&empty).unwrap();
        assert!(empty.contains("no data"));
    }
}
