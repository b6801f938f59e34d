//! The page `compare --html` writes, checked in a real browser: Debian's Chromium, headless,
//! driven by playwright-core (both installed by `cargo xtask ci`). The page is opened from its
//! file as a CI artifact would be, at a phone's width and a laptop's, light and dark, and read
//! back from the rendered document: nothing fetched, nothing scrolling sideways or cut off,
//! every chart with its axes and values, size bars as long as the sizes, one colour per image.
//! The screenshots stay in `target/xtask/report/`.
//!
//! [`check_in_browser`] runs on the page of the compare test in `images.rs`, which has the
//! images and the engine already: no build of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::files::target_dir;
use crate::support::needs::{skip, tools_available};
use crate::support::process::{stderr, stdout, succeeds};

/// The widths the page must read well at: a phone's and a laptop's.
const WIDTHS: [u32; 2] = [390, 1280];
/// How far a size bar's rendered width may be from proportional.
const TOLERANCE: f64 = 0.02;

/// Opens the page at every width in both colour schemes and reports what it finds as one
/// JSON document on stdout. Paths come in `PAGE`, `SHOTS` and `CHROMIUM`.
const DRIVER: &str = r#"
const { chromium } = require('playwright-core');
const path = require('path');
const url = require('url');

// What the document shows at this size and scheme.
function inspect() {
  const width = document.documentElement.clientWidth;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.getAttribute('class') ? '.' + el.getAttribute('class').split(' ').join('.') : '') +
    ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
  const overflowing = [];
  if (document.documentElement.scrollWidth > width) {
    overflowing.push(`the page is ${document.documentElement.scrollWidth} px wide in ${width}`);
  }
  for (const el of document.body.querySelectorAll('*')) {
    const style = getComputedStyle(el);
    if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1) {
      overflowing.push(name(el) + ' scrolls sideways');
    }
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > width + 0.5 || r.left < -0.5)) {
      overflowing.push(`${name(el)} spans ${r.left.toFixed(1)}..${r.right.toFixed(1)} of ${width}`);
    }
  }
  const clipped = [];
  const overlapping = [];
  const charts = [...document.querySelectorAll('svg.chart')].map((svg) => {
    const box = svg.getBoundingClientRect();
    for (const text of svg.querySelectorAll('text')) {
      const r = text.getBoundingClientRect();
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5) {
        clipped.push(`${svg.dataset.chart}: "${text.textContent}" at ${r.left.toFixed(1)}..${r.right.toFixed(1)} of ${box.left.toFixed(1)}..${box.right.toFixed(1)}`);
      }
    }
    for (const axis of svg.querySelectorAll('.axis')) {
      const ticks = [...axis.querySelectorAll('.tick')].map((t) => t.getBoundingClientRect())
        .sort((a, b) => a.left - b.left || a.top - b.top);
      for (let i = 1; i < ticks.length; i++) {
        const [a, b] = [ticks[i - 1], ticks[i]];
        if (a.right > b.left && a.bottom > b.top && b.bottom > a.top) {
          overlapping.push(`${svg.dataset.chart}: ticks at ${a.left.toFixed(0)} and ${b.left.toFixed(0)}`);
        }
      }
    }
    const texts = (selector) => [...svg.querySelectorAll(selector)].map((t) => t.textContent.trim());
    return {
      id: svg.dataset.chart,
      title: svg.querySelector(':scope > title')?.textContent ?? '',
      role: svg.getAttribute('role'),
      ticks: texts('.tick'),
      axis_titles: texts('.axis-title'),
      categories: texts('.category'),
      values: texts('.value'),
      marks: [...svg.querySelectorAll('.bar, .dot, .point.last')].map((mark) => ({
        image: mark.closest('[data-image]')?.dataset.image ?? null,
        value: Number(mark.dataset.value),
        width: mark.getBoundingClientRect().width,
        label: mark.closest('.group')?.querySelector('.value')?.textContent ?? null,
        title: mark.querySelector('title')?.textContent ?? '',
      })),
    };
  });
  const colours = {};
  for (const el of document.querySelectorAll('.bar, .dot, .point, .swatch, .line, .key')) {
    const image = el.closest('[data-image]')?.dataset.image;
    if (!image) continue;
    const style = getComputedStyle(el);
    const colour = el.matches('.line') ? style.stroke : el.matches('.key') ? style.backgroundColor : style.fill;
    (colours[image] ??= []).includes(colour) || colours[image].push(colour);
  }
  const tables = [...document.querySelectorAll('table')].map((table) => ({
    column_headers: table.querySelectorAll('th[scope=col]').length,
    row_headers: table.querySelectorAll('th[scope=row]').length,
    rows: table.querySelectorAll('tbody tr').length,
  }));
  const cells = [...document.querySelectorAll('table.figures tbody tr')].map((tr) => ({
    figure: tr.querySelector('th').textContent,
    values: [...tr.querySelectorAll('td')].map((td) => [td.dataset.image, td.textContent]),
  }));
  return {
    width, overflowing, clipped, overlapping, charts, colours, tables, cells,
    background: getComputedStyle(document.body).backgroundColor,
    text: document.body.innerText,
  };
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const requests = [];
  const views = [];
  const pageUrl = url.pathToFileURL(process.env.PAGE).href;
  for (const scheme of ['light', 'dark']) {
    for (const width of JSON.parse(process.env.WIDTHS)) {
      const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme: scheme });
      // Whatever the page asks for beyond its own file is recorded, and never fetched.
      await context.route('**/*', (route) => route.request().url() === pageUrl ? route.continue() : route.abort());
      const page = await context.newPage();
      page.on('request', (request) => {
        if (request.url() !== pageUrl && !request.url().startsWith('data:')) requests.push(request.url());
      });
      await page.goto(pageUrl, { waitUntil: 'load' });
      const view = await page.evaluate(inspect);
      view.scheme = scheme;
      view.screenshot = path.join(process.env.SHOTS, `compare-${width}-${scheme}.png`);
      await page.screenshot({ path: view.screenshot, fullPage: true });
      views.push(view);
      await context.close();
    }
  }
  await browser.close();
  process.stdout.write(JSON.stringify({ requests, views }));
})().catch((error) => { console.error(error); process.exit(1); });
"#;

/// Renders `page` in Chromium and checks it against `report`, the JSON that the same `compare`
/// run printed. Skips loudly where Chromium, node or playwright-core is missing (a failure
/// under `CI=true`).
pub(crate) fn check_in_browser(test: &str, page: &Path, report: &Value) {
    if !tools_available(test, &["chromium", "node"]) {
        return;
    }
    let modules = target_dir().join("tools").join("node").join("node_modules");
    if !modules
        .join("playwright-core")
        .join("package.json")
        .exists()
    {
        skip(
            &format!(
                "playwright-core is not installed, so `{test}` cannot check the page in a browser"
            ),
            "CI must install it",
            " (`cargo xtask ci` installs it under target/tools/node)",
        );
        return;
    }
    let shots = target_dir().join("xtask").join("report");
    std::fs::create_dir_all(&shots).expect("the report folder");
    std::fs::copy(page, shots.join("compare.html"))
        .expect("a copy of the page beside its screenshots");
    let output = succeeds(
        Command::new("node")
            .args(["-e", DRIVER])
            .env("NODE_PATH", &modules)
            .env("PAGE", page)
            .env("SHOTS", &shots)
            .env("CHROMIUM", chromium())
            .env("WIDTHS", serde_json::to_string(&WIDTHS).expect("JSON")),
    );
    let found: Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("the driver prints JSON ({e}):\n{}", stderr(&output)));
    eprintln!("screenshots of the comparison page: {}", shots.display());

    let requests = found["requests"].as_array().expect("requests");
    assert!(requests.is_empty(), "the page fetched {requests:?}");
    let views = found["views"].as_array().expect("views");
    assert_eq!(views.len(), WIDTHS.len() * 2, "every width, light and dark");
    for view in views {
        check_view(view, report);
    }
    let background = |scheme: &str| {
        views
            .iter()
            .find(|v| v["scheme"] == scheme)
            .and_then(|v| v["background"].as_str())
            .map(luminance)
            .expect("a background")
    };
    assert!(
        background("light") > 0.8 && background("dark") < 0.1,
        "light is light and dark is dark: {} and {}",
        background("light"),
        background("dark")
    );
}

/// One width in one colour scheme.
fn check_view(view: &Value, report: &Value) {
    let at = format!(
        "at {} px, {} (screenshot {})",
        view["width"],
        text(&view["scheme"]),
        text(&view["screenshot"])
    );
    for problem in ["overflowing", "clipped", "overlapping"] {
        let found = view[problem].as_array().expect(problem);
        assert!(found.is_empty(), "{problem} {at} {found:#?}");
    }

    let images: Vec<&Value> = report["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .collect();
    let charts = view["charts"].as_array().expect("charts");
    let ids: BTreeSet<&str> = charts.iter().filter_map(|c| c["id"].as_str()).collect();
    // A chart for every figure measured; a figure this run did not measure (the rebuild with
    // --skip-rebuild-timing) is said to be missing instead.
    for (id, keys) in [
        ("size", &["size_bytes"][..]),
        ("size-log", &["size_bytes"]),
        ("build", &["cold_build_seconds", "rebuild_seconds"]),
        ("start", &["startup_ms"]),
        ("memory", &["idle_memory_bytes"]),
        ("cost", &["monthly_cost_usd"]),
    ] {
        let measured = images
            .iter()
            .any(|image| keys.iter().any(|key| image[*key].is_number()));
        if measured {
            assert!(ids.contains(id), "no {id} chart {at}: {ids:?}");
        } else {
            assert!(
                !ids.contains(id) && text(&view["text"]).contains("Not in this run"),
                "{id}: nothing measured, and the page says so {at}"
            );
        }
    }
    assert!(
        ids.iter().any(|id| id.starts_with("history-")),
        "no history chart {at}: {ids:?}"
    );
    for chart in charts {
        let id = chart["id"].as_str().unwrap_or("");
        assert!(
            !text(&chart["title"]).is_empty(),
            "{id} has no SVG title {at}"
        );
        assert_eq!(chart["role"], "img", "{id} {at}");
        assert!(
            strings(&chart["ticks"]).len() >= 2,
            "{id} has no axis ticks {at}: {chart}"
        );
        assert!(
            strings(&chart["axis_titles"]).iter().all(|t| !t.is_empty())
                && !strings(&chart["axis_titles"]).is_empty(),
            "{id} has no axis title {at}"
        );
        let values = strings(&chart["values"]);
        assert!(
            values.iter().all(|v| v.chars().any(|c| c.is_ascii_digit())
                || v.contains("skipped")
                || v.contains("not measured")),
            "{id}: a value without a figure {at}: {values:?}"
        );
        if id.starts_with("history-") {
            assert_eq!(values.len(), 1, "{id}: the last value, labelled {at}");
            assert!(
                strings(&chart["ticks"])
                    .iter()
                    .any(|t| t.split(' ').next().is_some_and(is_month)),
                "{id}: a dated axis {at}: {chart}"
            );
        } else {
            let categories = strings(&chart["categories"]);
            for image in &images {
                assert!(
                    categories.contains(&text(&image["image"])),
                    "{id} does not name {} {at}",
                    image["image"]
                );
            }
        }
    }

    let size = charts
        .iter()
        .find(|c| c["id"] == "size")
        .expect("the size chart");
    check_size_bars(size, &images, &at, view["width"] == 1280);
    check_colours(view, &images, &at);
    check_table(view, &images, &at);
}

/// Bars as long as the sizes (measured at the laptop's width, as rendered), each labelled with
/// its size and how many times smaller than the single-stage image it is.
fn check_size_bars(chart: &Value, images: &[&Value], at: &str, proportional: bool) {
    let bars = chart["marks"].as_array().expect("marks");
    assert_eq!(bars.len(), images.len(), "one bar per image {at}");
    let largest = bars
        .iter()
        .max_by(|a, b| number(&a["value"]).total_cmp(&number(&b["value"])))
        .expect("bars");
    let scale = number(&largest["width"]) / number(&largest["value"]);
    for image in images {
        let name = text(&image["variant"]);
        let bar = bars
            .iter()
            .find(|b| b["image"] == name.as_str())
            .unwrap_or_else(|| panic!("no size bar for {name} {at}"));
        let size = image["size_bytes"].as_f64().expect("size_bytes");
        assert!(
            (number(&bar["value"]) - size).abs() < 0.5,
            "{name}: the bar is of {size} {at}"
        );
        let width = number(&bar["width"]);
        if proportional {
            eprintln!("{name}: {size} bytes, its bar {width:.3} px wide {at}");
            let expected = size * scale;
            assert!(
                (width - expected).abs() <= expected * TOLERANCE,
                "{name}: {width:.3} px wide, {expected:.3} px is proportional {at}"
            );
        }
        // Thinner than a pixel or not, the label carries the figure.
        let label = text(&bar["label"]);
        assert!(label.contains(&decimal(size)), "{name}: {label:?} {at}");
        match image["times_smaller_than_single_stage"].as_f64() {
            Some(times) => assert!(
                label.contains(&format!("{} smaller than single-stage", times_text(times))),
                "{name}: {label:?} {at}"
            ),
            None => assert!(label.contains("baseline"), "{name}: {label:?} {at}"),
        }
    }
}

/// One colour per image on every chart and in the table, and no two images alike.
fn check_colours(view: &Value, images: &[&Value], at: &str) {
    let colours: BTreeMap<String, Vec<String>> =
        serde_json::from_value(view["colours"].clone()).expect("colours by image");
    let mut seen = BTreeSet::new();
    for image in images {
        let name = text(&image["variant"]);
        let used = colours
            .get(&name)
            .unwrap_or_else(|| panic!("{name} is drawn in no colour {at}"));
        assert_eq!(used.len(), 1, "{name} is drawn in {used:?} {at}");
        assert!(
            seen.insert(used[0].clone()),
            "{name} shares its colour {at}"
        );
    }
}

/// Headers for screen readers, and the JSON's figures in the cells.
fn check_table(view: &Value, images: &[&Value], at: &str) {
    let tables = view["tables"].as_array().expect("tables");
    assert!(!tables.is_empty(), "a table {at}");
    for table in tables {
        assert!(
            table["column_headers"].as_u64() > Some(0) && table["row_headers"] == table["rows"],
            "every column and every row has its header {at}: {table}"
        );
    }
    let cells = view["cells"].as_array().expect("cells");
    let row = |figure: &str| {
        cells
            .iter()
            .find(|r| r["figure"] == figure)
            .unwrap_or_else(|| panic!("no {figure} row {at}"))
    };
    for image in images {
        let name = text(&image["variant"]);
        let cell = |figure: &str| {
            row(figure)["values"]
                .as_array()
                .and_then(|v| v.iter().find(|c| c[0] == name.as_str()))
                .map_or_else(|| panic!("no {figure} of {name} {at}"), |c| text(&c[1]))
        };
        let size = image["size_bytes"].as_f64().expect("size_bytes");
        assert_eq!(cell("size"), decimal(size), "{name} {at}");
        assert_eq!(
            cell("OS packages"),
            image["os_packages"].to_string(),
            "{name} {at}"
        );
        let startup = image["startup_ms"].as_f64().expect("startup_ms");
        assert_eq!(
            cell("docker run → first 200"),
            format!("{startup:.0} ms"),
            "{name} {at}"
        );
    }
}

/// `1.33 GB`, `2.56 MB`, `12.0 kB`: as every view writes sizes.
fn decimal(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.2} GB", bytes / 1e9)
    } else if bytes >= 1e6 {
        format!("{:.2} MB", bytes / 1e6)
    } else {
        format!("{:.1} kB", bytes / 1e3)
    }
}

/// `520×`, `1.6×`.
fn times_text(times: f64) -> String {
    if times >= 10.0 {
        format!("{times:.0}×")
    } else {
        format!("{times:.1}×")
    }
}

fn is_month(word: &str) -> bool {
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .contains(&word)
}

/// The relative luminance of `rgb(r, g, b)`, 0 for black to 1 for white.
fn luminance(css: &str) -> f64 {
    let channels: Vec<f64> = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .filter_map(|c| c.trim().parse::<f64>().ok())
        .map(|c| {
            let c = c / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        })
        .collect();
    assert_eq!(channels.len(), 3, "a colour: {css}");
    0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
}

/// Debian's `chromium` where PATH finds it.
fn chromium() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("chromium"))
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| items.iter().map(text).collect())
        .unwrap_or_default()
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}
