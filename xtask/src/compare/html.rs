//! `compare --html FILE`: one self-contained page (no script, no external asset, nothing
//! fetched) that says what the multi-stage build bought: the sizes on a linear scale, the
//! build, start and memory figures charted per image, the full table, the targets and the size
//! history. Written by hand, a few hundred elements, every text escaped; the figures and their
//! wording come from [`figures`](super::figures), as the other formats' do.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::chart::{self, Bars, Group, Mark, Scale, Trend, escape};
use super::figures::{
    COLD_BUILD, COLD_PULL, COST, Figure, HOST_REBUILD, IDLE_MEMORY, IMAGE, REBUILD, Report, SIZE,
    STARTUP, TIMES_SMALLER, Unit, table_rows, targets,
};
use crate::records;

/// One colour per image, on every chart and in the table: (image, light scheme, dark scheme).
/// Okabe and Ito's colour-blind-safe palette, at 3:1 or more against either background.
const IMAGE_COLOURS: [(&str, &str, &str); 4] = [
    ("single-stage", "#d55e00", "#ff8c4a"),
    ("scratch", "#0072b2", "#56b4e9"),
    ("distroless", "#009e73", "#3ccf9f"),
    (super::DAEMONLESS_SCRATCH, "#cc79a7", "#e7a3cb"),
];

/// A chart of figures that share a unit, one group of marks per image.
struct Chart {
    id: &'static str,
    heading: &'static str,
    title: &'static str,
    axis_title: &'static str,
    /// Each a series of marks.
    series: &'static [&'static Figure],
    caption: fn(&Report) -> String,
    /// How to measure what this run did not.
    missing: &'static str,
}

const CHARTS: [Chart; 5] = [
    Chart {
        id: "build",
        heading: "Build time",
        title: "Cold build and rebuild after a source edit, per image",
        axis_title: "build time (seconds)",
        series: &[&COLD_BUILD, &REBUILD, &HOST_REBUILD],
        caption: |report| {
            format!(
                "Cold: every step without the layer cache (this run's build, or the latest one \
                 recorded by the same builder). Rebuild: after a one-line edit of \
                 app/src/main.rs in a copy of the checkout{}. Host: the same edit compiled by \
                 cargo on the host with the same profile and flags, timed in turns with the \
                 image's rebuild; the difference is what the builder adds. Daemonless: cold in a \
                 cargo target directory of its own; its rebuild is the same edit, once.",
                report
                    .rebuild_sampling()
                    .map(|text| format!(", {text}"))
                    .unwrap_or_default()
            )
        },
        missing: "`cargo xtask compare --rebuild` times cold builds; rebuilds are timed unless \
                  `--skip-rebuild-timing` is given.",
    },
    Chart {
        id: "pull",
        heading: "Cold pull",
        title: "From docker pull into an empty engine to the first 200 answer, per image",
        axis_title: "seconds",
        series: &[&COLD_PULL],
        caption: |report| {
            format!(
                "Each image pushed to a registry on loopback, then pulled into a second engine \
                 that holds none of its layers and run there until / answers 200: what a new \
                 task waits for, and Fargate bills, before it serves.{}",
                report
                    .pull_sampling()
                    .map(|text| format!(" Timed {text}."))
                    .unwrap_or_default()
            )
        },
        missing: "Timed unless `--skip-pull-timing` is given.",
    },
    Chart {
        id: "start",
        heading: "Start-up",
        title: "From docker run to the first 200 answer, per image",
        axis_title: "milliseconds",
        series: &[&STARTUP],
        caption: |_| {
            "From `docker run` of the local image to the first 200 answer on / through the \
             published port."
                .to_owned()
        },
        missing: "",
    },
    Chart {
        id: "memory",
        heading: "Idle memory",
        title: "Memory of the idle container, per image",
        axis_title: "resident memory (MiB)",
        series: &[&IDLE_MEMORY],
        caption: |_| "`docker stats`, one second after the first answer.".to_owned(),
        missing: "",
    },
    Chart {
        id: "cost",
        heading: "Registry cost",
        title: "Registry cost a month, per image",
        axis_title: "US dollars a month",
        series: &[&COST],
        caption: |report| report.pricing.note(),
        missing: "",
    },
];

pub(crate) fn page(report: &Report, history: &[records::ImageSize]) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <title>What the multi-stage build buys: app images compared</title>\n<style>\n",
    );
    html.push_str(&style());
    html.push_str("</style>\n</head>\n<body>\n");
    html.push_str(&header(report));
    html.push_str("<main>\n");
    html.push_str(&sizes(report));
    // The build chart full width (two bars an image), the single-figure ones side by side.
    let [build, rest @ ..] = &CHARTS;
    html.push_str(&figure_chart(report, build));
    html.push_str("<div class=\"row\">\n");
    for chart in rest {
        html.push_str(&figure_chart(report, chart));
    }
    html.push_str("</div>\n");
    html.push_str(&table(report));
    html.push_str(&history_section(history));
    html.push_str(
        "</main>\n<footer><p>Written by <code>cargo xtask compare --html</code>. The terminal \
         table, <code>--markdown</code>, <code>--json</code> and <code>--csv</code> carry the same \
         figures.</p></footer>\n</body>\n</html>\n",
    );
    html
}

fn style() -> String {
    let mut light = String::new();
    let mut dark = String::new();
    let mut images = String::new();
    for (name, light_colour, dark_colour) in IMAGE_COLOURS {
        let _ = write!(light, "--{name}:{light_colour};");
        let _ = write!(dark, "--{name}:{dark_colour};");
        let _ = writeln!(images, "[data-image=\"{name}\"]{{--image:var(--{name})}}");
    }
    format!(
        ":root{{color-scheme:light dark;--bg:#fff;--fg:#1d2025;--muted:#585f6a;--rule:#d5d9de;\
         --grid:#e8eaed;--panel:#f5f6f8;--met:#1a7f37;--missed:#c62828;--image:#7d838c;{light}}}\n\
         @media (prefers-color-scheme:dark){{:root{{--bg:#15171b;--fg:#e3e6ea;--muted:#a2a9b4;\
         --rule:#3a3f48;--grid:#2a2e35;--panel:#1d2026;--met:#5cc276;--missed:#ff7b72;\
         --image:#9aa0a8;{dark}}}}}\n{images}{STYLE}"
    )
}

const STYLE: &str = "*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-variant-numeric:tabular-nums}
header,main,footer{max-width:64rem;margin:0 auto;padding:0 1rem}
h1{font-size:1.8rem;line-height:1.2;margin:1.5rem 0 .5rem}
h2{font-size:1.25rem;margin:2.25rem 0 .25rem;padding-top:1rem;border-top:1px solid var(--rule)}
h3{font-size:1rem;margin:1rem 0 0}
p{margin:.5rem 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.lede{font-size:1.1rem}
.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.2rem 1rem;margin:1rem 0;padding:.75rem 1rem;background:var(--panel);border-radius:6px}
.facts dt{font-weight:600}.facts dd{margin:0;overflow-wrap:anywhere}
figure{margin:.75rem 0 0}
figcaption,.note,footer{color:var(--muted);font-size:.875rem}
svg.chart{display:block;width:100%;margin:.5rem 0}
svg text{fill:var(--fg);font-size:13px}
svg .category{font-weight:600;font-size:14px}
svg .value{font-weight:600}
svg .series{fill:var(--muted);font-weight:400}
svg .tick,svg .axis-title{fill:var(--muted);font-size:12px}
svg .grid line{stroke:var(--grid)}
svg .axis line{stroke:var(--muted)}
svg .track{stroke:var(--grid);stroke-dasharray:2 3}
svg .y-axis text,svg .last-value{paint-order:stroke;stroke:var(--bg);stroke-width:4px;stroke-linejoin:round}
.bar,.dot,.point,.swatch{fill:var(--image)}
.bar.second{fill-opacity:.4;stroke:var(--image);stroke-width:1}
.line{fill:none;stroke:var(--image);stroke-width:2.5}
.key{display:inline-block;width:.7em;height:.7em;border-radius:2px;background:var(--image);margin-right:.4em}
table{border-collapse:collapse;width:100%;margin:.75rem 0}
caption{text-align:left;color:var(--muted);font-size:.875rem;padding-bottom:.5rem}
code{white-space:nowrap}
.lede .name{white-space:nowrap}
.row{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:0 2rem}
th,td{padding:.35rem .6rem;border-bottom:1px solid var(--rule);text-align:right;vertical-align:top}
thead th{white-space:nowrap;border-bottom:2px solid var(--rule)}
thead th:first-child{text-align:left}
th[scope=row]{text-align:left;font-weight:500}
td{white-space:nowrap}
td.words{white-space:normal}
.targets{list-style:none;padding:0}
.targets li{display:grid;grid-template-columns:5.5em minmax(0,1fr);margin:.2rem 0}
.verdict{font-weight:600;white-space:nowrap}
.met{color:var(--met)}.missed{color:var(--missed)}
.trends{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:0 1.5rem}
footer{margin-top:2rem;padding-bottom:2rem}
@media (max-width:40rem){
h1{font-size:1.5rem}
.facts{grid-template-columns:minmax(0,1fr)}
.facts dd{margin-bottom:.4rem}
table.figures{position:relative}
table.figures thead th{position:absolute;left:0;top:0;width:1px;height:1px;padding:0;border:0;overflow:hidden;clip-path:inset(50%)}
table.figures tr{display:block;padding:.4rem 0;border-bottom:1px solid var(--rule)}
table.figures th[scope=row]{display:block;border:0;padding:0;font-weight:600}
table.figures td{display:flex;justify-content:space-between;gap:1rem;border:0;padding:.05rem 0 .05rem .6rem;box-shadow:inset 3px 0 var(--image);text-align:right;white-space:normal}
table.figures td::before{content:attr(data-label);color:var(--muted);text-align:left;white-space:nowrap}
}
";

fn header(report: &Report) -> String {
    let mut lede = String::from(
        "The same service in three images from its Dockerfiles, and the scratch one made \
         without Docker (<code>cargo xtask build --daemonless</code>): ",
    );
    let sizes: Vec<String> = report
        .rows
        .iter()
        .map(|row| {
            let smaller = TIMES_SMALLER
                .number(row)
                .map(|_| format!(", {} smaller", TIMES_SMALLER.text(row)))
                .unwrap_or_default();
            format!(
                "<b class=\"name\" data-image=\"{}\"><span class=\"key\"></span>{}</b> {}{smaller}",
                row.name(),
                escape(&IMAGE.text(row)),
                escape(&SIZE.text(row)),
            )
        })
        .collect();
    lede.push_str(&sizes.join("; "));
    lede.push('.');
    format!(
        "<header>\n<h1>What the multi-stage build buys</h1>\n<p class=\"lede\">{lede}</p>\n\
         <dl class=\"facts\">\n\
         <dt>Measured</dt><dd>{}, revision <code>{}</code></dd>\n\
         <dt>Machine</dt><dd>{}</dd>\n\
         <dt>Builder</dt><dd>{}</dd>\n\
         <dt>Profile</dt><dd>{}</dd>\n\
         <dt>What</dt><dd>size (<code>docker image inspect</code>), push size (each layer through \
         <code>gzip -6</code>), contents (read from the layers), cold build and rebuild time, \
         <code>docker run</code> to the first 200, idle memory (<code>docker stats</code>), \
         registry cost (its assumptions beside it)</dd>\n\
         </dl>\n</header>\n",
        escape(&report.date_text()),
        escape(&report.revision),
        escape(&report.machine.to_string()),
        escape(report.builder_text()),
        profile(report),
    )
}

/// `release: <code>lto = "fat"</code>, …`
fn profile(report: &Report) -> String {
    let settings: Vec<String> = report
        .profile
        .settings
        .iter()
        .map(|(key, value)| format!("<code>{} = {}</code>", escape(key), escape(value)))
        .collect();
    if settings.is_empty() {
        escape(&report.profile.name)
    } else {
        format!("{}: {}", escape(&report.profile.name), settings.join(", "))
    }
}

fn sizes(report: &Report) -> String {
    let groups: Vec<Group> = report
        .rows
        .iter()
        .map(|row| Group {
            image: Some(row.name()),
            name: IMAGE.text(row),
            marks: vec![Mark {
                series: None,
                value: SIZE.number(row),
                text: match TIMES_SMALLER.number(row) {
                    Some(_) => format!(
                        "{} · {} smaller than single-stage",
                        SIZE.text(row),
                        TIMES_SMALLER.text(row)
                    ),
                    None => format!("{} · {}", SIZE.text(row), TIMES_SMALLER.text(row)),
                },
            }],
        })
        .collect();
    let linear = Bars {
        id: "size",
        title: "Image size, linear scale".to_owned(),
        unit: Unit::Bytes,
        axis_title: "image size (decimal units)".to_owned(),
        scale: Scale::Linear,
        groups,
    };
    let log = Bars {
        id: "size-log",
        title: "Image size, logarithmic scale".to_owned(),
        scale: Scale::Log,
        axis_title: "image size, log scale (each gridline 10× the one before)".to_owned(),
        ..linear.clone()
    };
    format!(
        "<section id=\"size\">\n<h2>Image size</h2>\n<figure>\n{}<figcaption>Bar lengths are \
         proportional to the sizes: where a bar is thinner than a pixel, its label carries the \
         figure.</figcaption>\n</figure>\n<h3>The same sizes on a logarithmic scale</h3>\n\
         <figure>\n{}<figcaption>Dots, not bars: on a log scale a length means nothing. It shows \
         the small images apart from each other.</figcaption>\n</figure>\n</section>\n",
        linear.svg(),
        log.svg()
    )
}

fn figure_chart(report: &Report, chart: &Chart) -> String {
    let unit = chart
        .series
        .first()
        .and_then(|figure| figure.unit())
        .unwrap_or(Unit::Count);
    let groups: Vec<Group> = report
        .rows
        .iter()
        .map(|row| Group {
            image: Some(row.name()),
            name: IMAGE.text(row),
            marks: chart
                .series
                .iter()
                .map(|figure| Mark {
                    series: (chart.series.len() > 1).then_some(figure.label),
                    value: figure.number(row),
                    text: figure.text(row),
                })
                .collect(),
        })
        .collect();
    if groups
        .iter()
        .all(|group: &Group| group.marks.iter().all(|mark| mark.value.is_none()))
    {
        let missing: Vec<String> = chart
            .series
            .iter()
            .map(|figure| {
                let texts: BTreeSet<String> =
                    report.rows.iter().map(|row| figure.text(row)).collect();
                format!(
                    "{}: {}",
                    figure.label,
                    texts.into_iter().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        return format!(
            "<section id=\"{}\">\n<h2>{}</h2>\n<p>Not in this run ({}). {}</p>\n<p class=\"note\">{}</p>\n</section>\n",
            chart.id,
            escape(chart.heading),
            escape(&missing.join("; ")),
            code_spans(&escape(chart.missing)),
            code_spans(&escape(&(chart.caption)(report)))
        );
    }
    let bars = Bars {
        id: chart.id,
        title: chart.title.to_owned(),
        unit,
        axis_title: chart.axis_title.to_owned(),
        scale: Scale::Linear,
        groups,
    };
    format!(
        "<section id=\"{}\">\n<h2>{}</h2>\n<figure>\n{}<figcaption>{}</figcaption>\n</figure>\n</section>\n",
        chart.id,
        escape(chart.heading),
        bars.svg(),
        code_spans(&escape(&(chart.caption)(report)))
    )
}

/// `` `docker run` `` as code, in text already escaped.
fn code_spans(text: &str) -> String {
    let mut out = String::new();
    for (index, part) in text.split('`').enumerate() {
        if index % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn table(report: &Report) -> String {
    let mut html = String::from(
        "<section id=\"figures\">\n<h2>Every figure</h2>\n<table class=\"figures\">\n\
         <caption>The same figures as the terminal table, <code>--markdown</code>, \
         <code>--json</code> and <code>--csv</code>.</caption>\n<thead><tr><th scope=\"col\">figure</th>",
    );
    for row in &report.rows {
        let _ = write!(
            html,
            "<th scope=\"col\" data-image=\"{}\"><span class=\"key\"></span>{}</th>",
            row.name(),
            escape(&IMAGE.text(row))
        );
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for figure in table_rows() {
        let words = if figure.unit().is_some() {
            ""
        } else {
            " class=\"words\""
        };
        let _ = write!(html, "<tr><th scope=\"row\">{}</th>", escape(figure.label));
        for row in &report.rows {
            let _ = write!(
                html,
                "<td{words} data-image=\"{}\" data-label=\"{}\">{}</td>",
                row.name(),
                escape(&IMAGE.text(row)),
                escape(&figure.text(row))
            );
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>\n");
    let _ = writeln!(
        html,
        "<p class=\"note\">{}</p>",
        escape(&report.pricing.note())
    );
    html.push_str("<h3>Targets</h3>\n<ul class=\"targets\">\n");
    for (target, figure, met) in targets(&report.rows) {
        let _ = writeln!(
            html,
            "<li><span class=\"verdict {}\">{}</span><span>{}: {}</span></li>",
            if met { "met" } else { "missed" },
            crate::output::target(met),
            escape(target),
            escape(&figure)
        );
    }
    html.push_str("</ul>\n</section>\n");
    html
}

fn history_section(history: &[records::ImageSize]) -> String {
    let mut html = String::from("<section id=\"history\">\n<h2>Size history</h2>\n");
    let mut names: Vec<&str> = IMAGE_COLOURS.iter().map(|(name, ..)| *name).collect();
    for record in history {
        if !names.contains(&record.variant.as_str()) {
            names.push(&record.variant);
        }
    }
    let trends: Vec<Trend> = names
        .into_iter()
        .filter_map(|name| {
            let points: Vec<(u64, f64)> = history
                .iter()
                .filter(|r| r.variant == name)
                .filter_map(|r| Some((chart::parse_rfc3339(&r.date)?, r.size_bytes as f64)))
                .collect();
            let last = points.last()?.1;
            // An image this project still makes is named by its tag and drawn in its colour.
            let image = IMAGE_COLOURS
                .iter()
                .map(|(known, ..)| *known)
                .find(|known| *known == name);
            let tag = image.map_or_else(
                || name.to_owned(),
                |image| format!("{}:{image}", crate::project::variant::IMAGE_REPOSITORY),
            );
            Some(Trend {
                id: format!("history-{}", id_safe(name)),
                title: format!("Size of {tag} over time"),
                name: tag,
                image,
                unit: Unit::Bytes,
                axis_title: "image size".to_owned(),
                points,
                last_text: Unit::Bytes.text(last),
            })
        })
        .collect();
    if trends.is_empty() {
        html.push_str("<p>No size history yet: every run of compare adds to it.</p>\n</section>\n");
        return html;
    }
    let runs = trends.iter().map(|t| t.points.len()).max().unwrap_or(0);
    let _ = writeln!(
        html,
        "<p class=\"note\">Every <code>compare</code> on this machine records each image's size \
         (<code>.xtask/history/sizes.jsonl</code>): {runs} run{} so far. Each image on its own \
         scale, the last value labelled.</p>\n<div class=\"trends\">",
        if runs == 1 { "" } else { "s" }
    );
    for trend in &trends {
        let name = trend
            .title
            .trim_start_matches("Size of ")
            .trim_end_matches(" over time");
        let _ = write!(
            html,
            "<figure>\n<h3{}><span class=\"key\"></span>{}</h3>\n{}",
            trend
                .image
                .map(|image| format!(" data-image=\"{image}\""))
                .unwrap_or_default(),
            escape(name),
            trend.svg()
        );
        if trend.points.len() == 1 {
            html.push_str("<figcaption>One measurement so far: run compare again to see a trend.</figcaption>\n");
        }
        html.push_str("</figure>\n");
    }
    html.push_str("</div>\n</section>\n");
    html
}

/// Letters, digits and dashes: an id from a name that came from a file.
fn id_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::figures::tests::report;
    use super::*;

    fn history() -> Vec<records::ImageSize> {
        let record = |date: &str, variant: &str, size_bytes| records::ImageSize {
            date: date.to_owned(),
            revision: "0".to_owned(),
            variant: variant.to_owned(),
            image_id: "sha256:0".to_owned(),
            size_bytes,
            compressed_bytes: 0,
            layers: 1,
            files: 1,
            profile: "release".to_owned(),
        };
        vec![
            record("2026-11-20T10:00:00Z", "scratch", 2_600_000),
            record("2026-11-20T10:00:00Z", "<script>alert(1)</script>", 10),
            record("2026-12-02T06:05:42Z", "scratch", 2_560_000),
            record("2026-12-02T06:05:42Z", "single-stage", 1_330_000_000),
        ]
    }

    #[test]
    fn the_page_states_its_circumstances_and_charts_every_figure_it_promises() {
        let page = page(&report(), &history());
        for text in [
            "2026-12-02 06:05 UTC",
            "2 logical CPUs (AMD EPYC &lt;test&gt;)",
            "BuildKit",
            "lto = &quot;fat&quot;",
            "520× smaller than single-stage",
            "1.33 GB · baseline",
            "$0.10/GB-month storage",
        ] {
            assert!(page.contains(text), "{text} missing");
        }
        for id in [
            "size",
            "size-log",
            "build",
            "start",
            "memory",
            "cost",
            "history-scratch",
        ] {
            let chart = page
                .split(&format!("data-chart=\"{id}\""))
                .nth(1)
                .and_then(|rest| rest.split("</svg>").next())
                .unwrap_or_else(|| panic!("chart {id} missing"));
            assert!(chart.contains("class=\"tick\""), "{id} has no ticks");
            assert!(
                chart.contains("class=\"axis-title\""),
                "{id} has no axis title"
            );
            assert!(
                chart.contains(&format!("<title id=\"{id}-title\">")),
                "{id}"
            );
        }
        assert!(
            page.contains("<tspan class=\"series\">rebuild after source edit: </tspan>5.0 s (5 %)")
        );
        assert!(page.contains("<th scope=\"row\">idle memory</th>"));
        assert!(page.contains("data-label=\"app:scratch\">2.00 MiB</td>"));
    }

    #[test]
    fn the_page_fetches_nothing_and_escapes_what_it_did_not_write() {
        let page = page(&report(), &history());
        assert!(!page.contains("<script"), "no script, and none let in");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        for fetch in ["http:", "https:", "src=", "url(", "@import"] {
            assert!(!page.contains(fetch), "{fetch} in the page");
        }
    }

    #[test]
    fn each_chart_draws_numbers_of_one_unit() {
        for chart in &CHARTS {
            let units: Vec<Option<Unit>> = chart.series.iter().map(|f| f.unit()).collect();
            assert!(
                units.first().is_some_and(Option::is_some) && units.iter().all(|u| *u == units[0]),
                "{}: {units:?}",
                chart.id
            );
        }
    }

    #[test]
    fn each_image_has_one_colour_defined_once() {
        let page = page(&report(), &history());
        for (variant, light, dark) in IMAGE_COLOURS {
            assert_eq!(page.matches(light).count(), 1, "{variant}");
            assert_eq!(page.matches(dark).count(), 1, "{variant}");
        }
        assert!(
            !page.contains("fill=\"#"),
            "colours come from the one definition"
        );
    }

    #[test]
    fn size_bars_are_proportional_to_the_sizes() {
        let page = page(&report(), &[]);
        let chart = page
            .split("data-chart=\"size\"")
            .nth(1)
            .and_then(|rest| rest.split("</svg>").next())
            .expect("the size chart");
        let bars: Vec<(f64, f64)> = chart
            .split("<rect class=\"bar\"")
            .skip(1)
            .map(|bar| {
                let attribute = |name: &str| -> f64 {
                    let value = bar.split(&format!(" {name}=\"")).nth(1).expect(name);
                    value[..value.find('"').expect("quoted")]
                        .trim_end_matches('%')
                        .parse()
                        .expect("a number")
                };
                (attribute("data-value"), attribute("width"))
            })
            .collect();
        assert_eq!(bars.len(), 3);
        let scale = bars[0].1 / bars[0].0;
        for (size, width) in &bars {
            assert!((width / size / scale - 1.0).abs() < 1e-3, "{bars:?}");
        }
        assert!(bars[1].1 < 0.5, "scratch is a sliver: {bars:?}");
    }
}
