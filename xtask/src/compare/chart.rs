//! The page's SVG charts, written by hand (a few elements each; no charting library renders
//! without a script): bars on a linear scale, dots on a log scale, and a line over dated time.
//!
//! Horizontal positions are percentages of the chart's width, and text has a fixed size, so a
//! chart fills a phone's width and a desktop's alike with its labels readable: the text is never
//! scaled down with the drawing. Every mark carries its image (`data-image`, which picks the
//! image's one colour) and its value (`data-value`); every label is text in the document.

use std::fmt::Write as _;

use super::figures::Unit;
use crate::measure::time;

/// What one mark shows.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Mark {
    /// Which of several figures charted per image, such as `cold build`; `None` when only one.
    pub(super) series: Option<&'static str>,
    pub(super) value: Option<f64>,
    /// The figure as the tables write it, and what else belongs beside it.
    pub(super) text: String,
}

/// One image's marks.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Group {
    /// The image's variant name, for its colour; `None` for an image this project no longer builds.
    pub(super) image: Option<&'static str>,
    pub(super) name: String,
    pub(super) marks: Vec<Mark>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scale {
    /// Bars from zero: lengths are proportional to the values.
    Linear,
    /// Dots, each gridline ten times the one before: lengths would mean nothing.
    Log,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Bars {
    /// Unique on the page.
    pub(super) id: &'static str,
    pub(super) title: String,
    pub(super) unit: Unit,
    pub(super) axis_title: String,
    pub(super) scale: Scale,
    pub(super) groups: Vec<Group>,
}

const NAME_LINE: f64 = 18.0;
const VALUE_LINE: f64 = 17.0;
const BAR: f64 = 14.0;
const GAP: f64 = 14.0;

impl Bars {
    pub(super) fn svg(&self) -> String {
        let values: Vec<f64> = self
            .groups
            .iter()
            .flat_map(|g| g.marks.iter().filter_map(|m| m.value))
            .collect();
        let max = values.iter().copied().fold(0.0, f64::max);
        let axis = match self.scale {
            Scale::Linear => Axis::linear(0.0, max, 4, self.unit),
            Scale::Log => {
                let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                Axis::decades(min, max, self.unit)
            }
        };

        let mut body = String::new();
        let mut y = 0.0;
        for group in &self.groups {
            y += NAME_LINE;
            let _ = write!(
                body,
                "<g class=\"group\"{}>\n<rect class=\"swatch\" x=\"0\" y=\"{:.0}\" width=\"10\" height=\"10\" rx=\"2\"/>\
                 <text class=\"category\" x=\"16\" y=\"{y:.0}\">{}</text>\n",
                image_attribute(group.image),
                y - 10.0,
                escape(&group.name),
            );
            for (index, mark) in group.marks.iter().enumerate() {
                y += VALUE_LINE;
                let series = mark
                    .series
                    .map(|s| format!("<tspan class=\"series\">{}: </tspan>", escape(s)))
                    .unwrap_or_default();
                let _ = writeln!(
                    body,
                    "<text class=\"value\" x=\"0\" y=\"{y:.0}\">{series}{}</text>",
                    escape(&mark.text)
                );
                let top = y + 4.0;
                y += 4.0 + BAR;
                if let Some(value) = mark.value {
                    body.push_str(&self.mark(&axis, group, mark, value, top, index > 0));
                }
            }
            y += GAP;
            body.push_str("</g>\n");
        }

        let axis_y = y;
        let mut svg = self.open(axis_y + 38.0);
        svg.push_str("<g class=\"grid\">");
        for tick in &axis.ticks {
            let _ = write!(
                svg,
                "<line x1=\"{at:.4}%\" x2=\"{at:.4}%\" y1=\"4\" y2=\"{axis_y:.0}\"/>",
                at = axis.percent(tick.value)
            );
        }
        svg.push_str("</g>\n");
        svg.push_str(&body);
        let _ = write!(
            svg,
            "<g class=\"axis\"><line x1=\"0\" x2=\"100%\" y1=\"{axis_y:.0}\" y2=\"{axis_y:.0}\"/>"
        );
        for tick in &axis.ticks {
            let at = axis.percent(tick.value);
            let _ = write!(
                svg,
                "<text class=\"tick\" x=\"{at:.4}%\" y=\"{:.0}\" text-anchor=\"{}\">{}</text>",
                axis_y + 16.0,
                anchor(at, &tick.label),
                escape(&tick.label)
            );
        }
        let _ = write!(
            svg,
            "<text class=\"axis-title\" x=\"100%\" y=\"{:.0}\" text-anchor=\"end\">{}</text></g>\n</svg>\n",
            axis_y + 34.0,
            escape(&self.axis_title)
        );
        svg
    }

    /// A bar from zero, or a dot on a log scale, `top` pixels down.
    fn mark(
        &self,
        axis: &Axis,
        group: &Group,
        mark: &Mark,
        value: f64,
        top: f64,
        second: bool,
    ) -> String {
        let title = format!(
            "<title>{}{}: {}</title>",
            escape(&group.name),
            mark.series
                .map(|s| format!(", {}", escape(s)))
                .unwrap_or_default(),
            escape(&mark.text)
        );
        let at = axis.percent(value);
        let image = image_attribute(group.image);
        match self.scale {
            Scale::Linear => {
                let second = if second { " second" } else { "" };
                format!(
                    "<rect class=\"bar{second}\"{image} data-value=\"{value}\" x=\"0\" y=\"{top:.0}\" width=\"{at:.6}%\" height=\"{BAR}\">{title}</rect>\n"
                )
            }
            Scale::Log => {
                let middle = top + BAR / 2.0;
                format!(
                    "<line class=\"track\" x1=\"0\" x2=\"100%\" y1=\"{middle:.0}\" y2=\"{middle:.0}\"/>\
                     <circle class=\"dot\"{image} data-value=\"{value}\" cx=\"{at:.6}%\" cy=\"{middle:.0}\" r=\"6\">{title}</circle>\n"
                )
            }
        }
    }

    fn open(&self, height: f64) -> String {
        let description: Vec<String> = self
            .groups
            .iter()
            .flat_map(|group| {
                group.marks.iter().map(move |mark| {
                    let series = mark.series.map(|s| format!(" {s}")).unwrap_or_default();
                    format!("{}{series}: {}", group.name, mark.text)
                })
            })
            .collect();
        open_svg(self.id, &self.title, &description.join("; "), height)
    }
}

fn open_svg(id: &str, title: &str, description: &str, height: f64) -> String {
    format!(
        "<svg class=\"chart\" id=\"chart-{id}\" data-chart=\"{id}\" \
         width=\"100%\" height=\"{height:.0}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\">\n\
         <title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>\n",
        escape(title),
        escape(description)
    )
}

fn image_attribute(image: Option<&str>) -> String {
    image
        .map(|image| format!(" data-image=\"{}\"", escape(image)))
        .unwrap_or_default()
}

/// Labels near the edges grow inwards, so none is cut off: a label centred at `percent` of the
/// width is anchored at its start or end when half of it, as wide as its digits at the narrowest
/// a chart is drawn, would cross an edge.
fn anchor(percent: f64, label: &str) -> &'static str {
    let half = label.chars().count() as f64 * DIGIT / 2.0 / NARROWEST * 100.0;
    if percent < half {
        "start"
    } else if percent + half > 100.0 {
        "end"
    } else {
        "middle"
    }
}

/// One image's size over time: a line, its dated axis and its last value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Trend {
    pub(super) id: String,
    /// The image, as its heading names it.
    pub(super) name: String,
    pub(super) title: String,
    pub(super) image: Option<&'static str>,
    pub(super) unit: Unit,
    pub(super) axis_title: String,
    /// (Unix seconds, value), oldest first.
    pub(super) points: Vec<(u64, f64)>,
    /// The last value as the tables write it.
    pub(super) last_text: String,
}

const TREND_HEIGHT: f64 = 196.0;
const PLOT_TOP: f64 = 40.0;
const PLOT_BOTTOM: f64 = 150.0;
/// The plot's right edge, in percent of the width: the last point stays whole.
const PLOT_RIGHT: f64 = 98.0;
/// The narrowest a trend is drawn (the page's grid gives it 18 rem), and the widest a digit of
/// its 12 px labels is: the value axis's labels left of the plot fit at that width.
const NARROWEST: f64 = 288.0;
const DIGIT: f64 = 7.0;

impl Trend {
    pub(super) fn svg(&self) -> String {
        let (Some(first), Some(last)) = (self.points.first(), self.points.last()) else {
            return String::new();
        };
        let low = self
            .points
            .iter()
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min);
        let high = self.points.iter().map(|p| p.1).fold(0.0, f64::max);
        // A tenth of the largest value at least, so that noise does not look like a cliff.
        let (low, high) = if high - low < high * 0.1 {
            let middle = f64::midpoint(high, low);
            ((middle - high * 0.05).max(0.0), middle + high * 0.05)
        } else {
            (low, high)
        };
        let axis = Axis::linear(low, high, 3, self.unit);
        let widest = axis
            .ticks
            .iter()
            .map(|t| t.label.chars().count())
            .max()
            .unwrap_or(0);
        let frame = Frame {
            start: first.0,
            end: last.0,
            left: (widest as f64 * DIGIT + 10.0) / NARROWEST * 100.0,
            axis,
        };
        let description = format!(
            "{} measurements from {} to {}; the last {}",
            self.points.len(),
            &time::rfc3339(frame.start)[..10],
            &time::rfc3339(frame.end)[..10],
            self.last_text
        );
        let mut svg = open_svg(&self.id, &self.title, &description, TREND_HEIGHT);
        let _ = writeln!(
            svg,
            "<text class=\"axis-title\" x=\"0\" y=\"14\">{}</text>",
            escape(&self.axis_title)
        );
        svg.push_str(&frame.value_axis());
        svg.push_str(&self.line(&frame));
        svg.push_str(&frame.time_axis());
        svg.push_str("</svg>\n");
        svg
    }

    fn line(&self, frame: &Frame) -> String {
        let mut svg = format!("<g class=\"series\"{}>", image_attribute(self.image));
        // The line is drawn in a coordinate system stretched to the chart's width (unknown
        // here), its stroke unstretched; the points are drawn outside it, so they stay round.
        let points: Vec<String> = self
            .points
            .iter()
            .map(|(t, value)| format!("{:.1},{:.1}", frame.along(*t) * 1000.0, frame.y(*value)))
            .collect();
        let _ = writeln!(
            svg,
            "<svg x=\"{:.2}%\" width=\"{:.2}%\" height=\"{TREND_HEIGHT}\" viewBox=\"0 0 1000 {TREND_HEIGHT}\" preserveAspectRatio=\"none\" overflow=\"visible\">\
             <polyline class=\"line\"{} vector-effect=\"non-scaling-stroke\" points=\"{}\"/></svg>",
            frame.left,
            PLOT_RIGHT - frame.left,
            image_attribute(self.image),
            points.join(" ")
        );
        let Some((last, earlier)) = self.points.split_last() else {
            return String::new();
        };
        if earlier.len() < 60 {
            for (t, value) in earlier {
                let _ = write!(
                    svg,
                    "<circle class=\"point\" cx=\"{:.3}%\" cy=\"{:.1}\" r=\"2.5\"/>",
                    frame.x(*t),
                    frame.y(*value)
                );
            }
        }
        let (x, y) = (frame.x(last.0), frame.y(last.1));
        // Above the point, unless that is above the plot.
        let label_y = if y - PLOT_TOP < 14.0 {
            y + 18.0
        } else {
            y - 8.0
        };
        let _ = writeln!(
            svg,
            "<circle class=\"point last\" data-value=\"{}\" cx=\"{x:.3}%\" cy=\"{y:.1}\" r=\"4.5\"><title>{}: {}</title></circle>\
             <text class=\"value last-value\" x=\"{x:.3}%\" dx=\"-8\" y=\"{label_y:.1}\" text-anchor=\"end\">{}</text></g>",
            last.1,
            escape(&time::rfc3339(last.0)),
            escape(&self.last_text),
            escape(&self.last_text)
        );
        svg
    }
}

/// Where a trend's points go: time across, the value axis up.
struct Frame {
    start: u64,
    end: u64,
    /// The plot's left edge, in percent of the width.
    left: f64,
    axis: Axis,
}

impl Frame {
    /// 0 at the first instant, 1 at the last (½ when they are the same).
    fn along(&self, t: u64) -> f64 {
        if self.end > self.start {
            t.saturating_sub(self.start) as f64 / (self.end - self.start) as f64
        } else {
            0.5
        }
    }

    /// Percent of the width, right of the value axis's labels, short of the right edge so
    /// that the last point is whole.
    fn x(&self, t: u64) -> f64 {
        self.left + (PLOT_RIGHT - self.left) * self.along(t)
    }

    fn y(&self, value: f64) -> f64 {
        PLOT_BOTTOM - self.axis.fraction(value) * (PLOT_BOTTOM - PLOT_TOP)
    }

    /// Gridlines across the plot, each labelled at its left.
    fn value_axis(&self) -> String {
        let mut svg = String::from("<g class=\"grid\">");
        for tick in &self.axis.ticks {
            let at = self.y(tick.value);
            let _ = write!(
                svg,
                "<line x1=\"{:.2}%\" x2=\"100%\" y1=\"{at:.1}\" y2=\"{at:.1}\"/>",
                self.left
            );
        }
        svg.push_str("</g>\n<g class=\"axis y-axis\">");
        for tick in &self.axis.ticks {
            let _ = write!(
                svg,
                "<text class=\"tick\" x=\"{:.2}%\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                self.left - 1.5,
                self.y(tick.value) + 4.0,
                escape(&tick.label)
            );
        }
        svg.push_str("</g>\n");
        svg
    }

    fn time_axis(&self) -> String {
        let mut svg = format!(
            "<g class=\"axis x-axis\"><line x1=\"{:.2}%\" x2=\"100%\" y1=\"{PLOT_BOTTOM}\" y2=\"{PLOT_BOTTOM}\"/>",
            self.left
        );
        for (t, label) in time_ticks(self.start, self.end, &|t| self.x(t)) {
            let at = self.x(t);
            let _ = write!(
                svg,
                "<line class=\"tick-mark\" x1=\"{at:.3}%\" x2=\"{at:.3}%\" y1=\"{PLOT_BOTTOM}\" y2=\"{:.0}\"/>\
                 <text class=\"tick\" x=\"{at:.3}%\" y=\"{:.0}\" text-anchor=\"{}\">{label}</text>",
                PLOT_BOTTOM + 5.0,
                PLOT_BOTTOM + 20.0,
                anchor(at, &label)
            );
        }
        let _ = writeln!(
            svg,
            "<text class=\"axis-title\" x=\"100%\" y=\"{:.0}\" text-anchor=\"end\">date measured ({}, UTC)</text></g>",
            PLOT_BOTTOM + 40.0,
            years(self.start, self.end)
        );
        svg
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Tick {
    value: f64,
    label: String,
}

/// A value axis: its range and its labelled ticks.
#[derive(Debug, Clone, PartialEq)]
struct Axis {
    low: f64,
    high: f64,
    log: bool,
    ticks: Vec<Tick>,
}

impl Axis {
    /// Round ticks covering `low..=high`, at most `intervals` + 1 of them.
    fn linear(low: f64, high: f64, intervals: usize, unit: Unit) -> Self {
        let high = if high > low { high } else { low + 1.0 };
        // Round in the unit the ticks are written in (0.5 MiB, not 500 000 bytes).
        let (divisor, name) = unit.axis(high);
        let step = nice_step((high - low) / divisor, intervals);
        let first = (low / divisor / step).floor() * step;
        let last = (high / divisor / step).ceil() * step;
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let count = ((last - first) / step).round() as usize;
        let ticks = (0..=count)
            .map(|index| {
                let shown = first + index as f64 * step;
                let value = shown * divisor;
                let number = if shown == 0.0 {
                    "0".to_owned()
                } else {
                    format!("{shown:.decimals$}")
                };
                let label = match unit {
                    Unit::Usd => format!("${number}"),
                    _ if name.is_empty() => number,
                    _ => format!("{number} {name}"),
                };
                Tick { value, label }
            })
            .collect();
        Self {
            low: first * divisor,
            high: last * divisor,
            log: false,
            ticks,
        }
    }

    /// Powers of ten around `min..=max`.
    fn decades(min: f64, max: f64, unit: Unit) -> Self {
        let low = 10f64.powf(min.max(1.0).log10().floor());
        let mut high = 10f64.powf(max.max(1.0).log10().ceil());
        if high <= low {
            high = low * 10.0;
        }
        let count = (high / low).log10().round() as i32;
        let ticks = (0..=count)
            .map(|power| {
                let value = low * 10f64.powi(power);
                let (divisor, name) = unit.axis(value);
                Tick {
                    value,
                    label: format!("{:.0} {name}", value / divisor),
                }
            })
            .collect();
        Self {
            low,
            high,
            log: true,
            ticks,
        }
    }

    /// Where `value` lies between the ends, 0 to 1.
    fn fraction(&self, value: f64) -> f64 {
        if self.log {
            (value.max(self.low) / self.low).log10() / (self.high / self.low).log10()
        } else {
            (value - self.low) / (self.high - self.low)
        }
    }

    fn percent(&self, value: f64) -> f64 {
        self.fraction(value) * 100.0
    }
}

/// 1, 2, 2.5 or 5 times a power of ten: the smallest that covers `span` in `intervals` steps.
fn nice_step(span: f64, intervals: usize) -> f64 {
    let raw = span / intervals.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// Round instants between `start` and `end` (Unix seconds), as many as the chart has room for:
/// the finest step whose labels, placed at `x(instant)` (percent of the width) and anchored as
/// [`anchor`] anchors them, neither overlap nor leave the chart at its narrowest. The labels
/// are short (the year is in the axis title): `Dec 2`, or `Dec 2 06:00` when they are less than
/// a day apart, or `Dec 2026` when they are months apart.
fn time_ticks(start: u64, end: u64, x: &dyn Fn(u64) -> f64) -> Vec<(u64, String)> {
    const STEPS: [u64; 17] = [
        60,
        300,
        900,
        1800,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86_400,
        2 * 86_400,
        3 * 86_400,
        7 * 86_400,
        14 * 86_400,
        30 * 86_400,
        91 * 86_400,
        182 * 86_400,
        365 * 86_400,
    ];
    let only_start = || vec![(start, date_label(start, 60))];
    if end <= start {
        return only_start();
    }
    let ticks = |step: u64| -> Vec<(u64, String)> {
        (start.div_ceil(step)..=end / step)
            .map(|k| (k * step, date_label(k * step, step)))
            .collect()
    };
    // A label's extent in percent of the narrowest chart, with a gap of 12 px after it.
    let fits = |ticks: &[(u64, String)]| {
        let mut previous_end = 0.0;
        ticks.iter().all(|(t, label)| {
            let at = x(*t);
            let width = label.chars().count() as f64 * DIGIT / NARROWEST * 100.0;
            let (left, right) = match anchor(at, label) {
                "start" => (at, at + width),
                "end" => (at - width, at),
                _ => (at - width / 2.0, at + width / 2.0),
            };
            let clear = left >= previous_end && left >= 0.0 && right <= 100.0;
            previous_end = right + 12.0 / NARROWEST * 100.0;
            clear
        })
    };
    let chosen = STEPS
        .into_iter()
        .map(ticks)
        .find(|ticks| !ticks.is_empty() && fits(ticks))
        .unwrap_or_default();
    if chosen.is_empty() {
        only_start()
    } else {
        chosen
    }
}

/// `Dec 2 06:00`, `Dec 2` or `Dec 2026`, as fine as ticks `step` seconds apart need.
fn date_label(unix: u64, step: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let text = time::rfc3339(unix);
    let month = text
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("?");
    let day = text.get(8..10).unwrap_or("").trim_start_matches('0');
    if step < 86_400 {
        format!("{month} {day} {}", text.get(11..16).unwrap_or(""))
    } else if step < 28 * 86_400 {
        format!("{month} {day}")
    } else {
        format!("{month} {}", text.get(..4).unwrap_or(""))
    }
}

/// `2026` or `2025–2026`: the years a dated axis spans.
fn years(start: u64, end: u64) -> String {
    let (first, last) = (time::rfc3339(start), time::rfc3339(end));
    if first[..4] == last[..4] {
        first[..4].to_owned()
    } else {
        format!("{}–{}", &first[..4], &last[..4])
    }
}

/// `2026-11-22T11:29:20Z` (as [`time::rfc3339`] writes it) in Unix seconds.
pub(super) fn parse_rfc3339(text: &str) -> Option<u64> {
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Howard Hinnant's days-from-civil algorithm, the inverse of `time::rfc3339`'s.
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

/// Text and attribute values, escaped for HTML and SVG alike.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes() -> Bars {
        let group = |image: &'static str, value: f64, text: &str| Group {
            image: Some(image),
            name: format!("app:{image}"),
            marks: vec![Mark {
                series: None,
                value: Some(value),
                text: text.to_owned(),
            }],
        };
        Bars {
            id: "size",
            title: "Image size".to_owned(),
            unit: Unit::Bytes,
            axis_title: "size".to_owned(),
            scale: Scale::Linear,
            groups: vec![
                group("single-stage", 1.33e9, "1.33 GB"),
                group("scratch", 2.56e6, "2.56 MB <b>"),
            ],
        }
    }

    /// `attribute="number"` of every element with `class="class…"`, in order.
    fn numbers(svg: &str, class: &str, attribute: &str) -> Vec<f64> {
        svg.split(&format!("class=\"{class}"))
            .skip(1)
            .filter_map(|rest| {
                let rest = &rest[..rest.find('>')?];
                let value = rest.split(&format!(" {attribute}=\"")).nth(1)?;
                value[..value.find('"')?].trim_end_matches('%').parse().ok()
            })
            .collect()
    }

    #[test]
    fn bar_lengths_are_proportional_to_the_values_and_labels_carry_them() {
        let svg = sizes().svg();
        let widths = numbers(&svg, "bar", "width");
        let values = numbers(&svg, "bar", "data-value");
        assert_eq!(values, [1.33e9, 2.56e6]);
        let ratio = |i: usize| widths[i] / values[i];
        assert!((ratio(1) / ratio(0) - 1.0).abs() < 1e-4, "{widths:?}");
        assert!(widths[0] <= 100.0 && widths[1] > 0.0, "{widths:?}");
        assert!(svg.contains(">1.33 GB</text>") && svg.contains(">2.56 MB &lt;b&gt;</text>"));
        assert!(svg.contains("<title id=\"size-title\">Image size</title>"));
        let ticks: Vec<&str> = svg
            .split("class=\"tick\"")
            .skip(1)
            .filter_map(|t| t.split('>').nth(1)?.split('<').next())
            .collect();
        assert_eq!(ticks, ["0 GB", "0.5 GB", "1.0 GB", "1.5 GB"]);
    }

    #[test]
    fn a_log_chart_draws_dots_on_decades() {
        let mut chart = sizes();
        chart.scale = Scale::Log;
        let svg = chart.svg();
        assert!(!svg.contains("class=\"bar"));
        let at = numbers(&svg, "dot", "cx");
        // 1 MB … 10 GB: four decades; 2.56 MB is 0.41 of the first, 1.33 GB 3.12 of them.
        assert!(
            (at[1] - 2.56f64.log10() / 4.0 * 100.0).abs() < 0.01,
            "{at:?}"
        );
        assert!(
            (at[0] - 1330f64.log10() / 4.0 * 100.0).abs() < 0.01,
            "{at:?}"
        );
        for tick in [">1 MB<", ">10 MB<", ">100 MB<", ">1 GB<", ">10 GB<"] {
            assert!(svg.contains(tick), "{tick} in {svg}");
        }
    }

    #[test]
    fn a_trend_has_a_dated_axis_a_labelled_value_axis_and_its_last_value() {
        let day = 86_400;
        let start = parse_rfc3339("2026-11-20T00:00:00Z").expect("a date");
        let trend = Trend {
            id: "history-scratch".to_owned(),
            name: "app:scratch".to_owned(),
            title: "Size of app:scratch over time".to_owned(),
            image: Some("scratch"),
            unit: Unit::Bytes,
            axis_title: "size".to_owned(),
            points: vec![
                (start, 2.60e6),
                (start + 3 * day, 2.58e6),
                (start + 9 * day, 2.56e6),
            ],
            last_text: "2.56 MB".to_owned(),
        };
        let svg = trend.svg();
        let dates: Vec<&str> = svg
            .split("text-anchor=\"middle\">")
            .skip(1)
            .filter_map(|t| t.split('<').next())
            .collect();
        assert_eq!(dates, ["Nov 21", "Nov 24", "Nov 27"], "{svg}");
        assert!(svg.contains(">date measured (2026, UTC)<"));
        assert!(svg.contains("class=\"value last-value\""));
        assert!(svg.contains(">2.56 MB</text>"));
        assert!(svg.contains(">2.6 MB</text>"), "y ticks: {svg}");
        assert!(svg.contains(">size</text>"));
        assert!(svg.contains("data-image=\"scratch\""));
    }

    #[test]
    fn time_labels_stay_inside_the_narrowest_chart() {
        let start = parse_rfc3339("2026-12-02T18:03:00Z").expect("a date");
        let spans =
            (1..=40)
                .map(|minutes| minutes * 157)
                .chain([26 * 3600, 9 * 86_400, 400 * 86_400]);
        for span in spans {
            let trend = Trend {
                id: "history-scratch".to_owned(),
                name: "app:scratch".to_owned(),
                title: "t".to_owned(),
                image: Some("scratch"),
                unit: Unit::Bytes,
                axis_title: "size".to_owned(),
                points: vec![(start, 2.6e6), (start + span, 2.5e6)],
                last_text: "2.5 MB".to_owned(),
            };
            let svg = trend.svg();
            let axis = svg
                .split("class=\"axis x-axis\"")
                .nth(1)
                .expect("a time axis");
            let mut previous_right = 0.0;
            for tick in axis.split("<text class=\"tick\" x=\"").skip(1) {
                let at: f64 = tick
                    .split('%')
                    .next()
                    .and_then(|x| x.parse().ok())
                    .expect("x");
                let anchor = tick
                    .split("text-anchor=\"")
                    .nth(1)
                    .and_then(|a| a.split('"').next());
                let label = tick
                    .split('>')
                    .nth(1)
                    .and_then(|l| l.split('<').next())
                    .expect("label");
                let width = label.chars().count() as f64 * DIGIT / NARROWEST * 100.0;
                let (left, right) = match anchor {
                    Some("start") => (at, at + width),
                    Some("end") => (at - width, at),
                    _ => (at - width / 2.0, at + width / 2.0),
                };
                assert!(
                    left >= 0.0 && right <= 100.0,
                    "{label} at {at}% over {span} s: {left}..{right}"
                );
                assert!(
                    left >= previous_right,
                    "{label} at {at}% overlaps the label before it over {span} s"
                );
                previous_right = right;
            }
        }
    }

    #[test]
    fn ticks_are_round() {
        for (span, step) in [(1.33e9, 5e8), (53.8, 20.0), (9.0, 2.5)] {
            assert!((nice_step(span, 4) - step).abs() < 1e-9 * step, "{span}");
        }
        // Round in the unit written: MiB, not bytes.
        let memory = Axis::linear(0.0, 1_126_171.0, 4, Unit::Memory);
        let labels: Vec<&str> = memory.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0 MiB", "0.5 MiB", "1.0 MiB", "1.5 MiB"]);
        // A plot from 10 % to 98 % of the width, as wide as these labels need.
        let (from, span) = (1_795_346_960, 3 * 3600);
        let x = |t: u64| 10.0 + 88.0 * (t - from) as f64 / span as f64;
        let hour = time_ticks(from, from + span, &x);
        assert_eq!(
            hour.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
            // Three labels an hour apart would not fit at 288 px: one, at a round 3 hours.
            ["Nov 22 12:00"]
        );
        assert_eq!(
            time_ticks(1_795_346_960, 1_795_346_960, &x)[0].1,
            "Nov 22 11:29"
        );
        let year = 365 * 86_400;
        let x = |t: u64| 10.0 + 88.0 * (t - from) as f64 / year as f64;
        let months = time_ticks(from, from + year, &x);
        assert!(months.iter().all(|t| t.1.ends_with(" 2027")), "{months:?}");
    }

    #[test]
    fn dates_parse_back_to_the_instants_they_were_written_from() {
        for unix in [0, 951_782_400, 1_795_346_960, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&time::rfc3339(unix)), Some(unix));
        }
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
