//! `cargo xtask cost`: what the service does per request, in instructions counted by callgrind
//! (exact and repeatable where timings on a shared machine drift by tens of percent), against a
//! bare axum handler, and feature by feature. Prints figures and the targets; never fails on
//! them.

mod report;
mod run;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};

use self::report::{Figure, Report};
use self::run::{Launch, Requests};
use crate::flags::{COST_ENDPOINTS, Cost};
use crate::output::StatusLine;
use crate::process;
use crate::project::static_binary;
use crate::tools;

/// Requests for the native run that measures the machine's instructions per nanosecond: enough
/// for the 10 ms clock ticks of `/proc/PID/stat` to resolve its CPU time to about 2 %.
const NATIVE_REQUESTS: u32 = 50_000;

/// One server that is counted.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    /// Its name in the JSON report.
    pub(crate) key: String,
    /// What the tables call it.
    pub(crate) label: String,
    pub(crate) launch: Launch,
    /// The endpoints it serves (the bare handler has no `/info` or `/metrics`).
    pub(crate) endpoints: Vec<&'static str>,
}

impl Cost {
    pub(crate) fn run(self) -> Result<()> {
        tools::require(&["valgrind", "kill"])?;
        let endpoints: Vec<&'static str> = COST_ENDPOINTS
            .into_iter()
            .filter(|path| self.endpoints.is_empty() || self.endpoints.iter().any(|e| e == path))
            .collect();
        let (service, examples) = static_binary::build_with_examples(&["bare", "priced"])?;
        let subjects = subjects(&service, &examples[0], &examples[1], &endpoints)?;
        let scratch = crate::files::target_dir().join("xtask").join("cost");
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))?;

        let counts = count_all(&subjects, &self, &scratch)?;
        let figures = figures(&subjects, &counts, self.requests);
        let service = &subjects[1];
        let rate_path = if endpoints.contains(&"/health") {
            "/health"
        } else {
            endpoints[0]
        };
        let per_request = figures[&(service.key.clone(), rate_path)].instructions;
        let user = run::user_time(
            &service.launch,
            Requests {
                warm_up: &[rate_path],
                path: rate_path,
                count: NATIVE_REQUESTS,
            },
        )?;
        let instructions_per_ns =
            per_request * f64::from(NATIVE_REQUESTS) / user.as_nanos().max(1) as f64;

        // What the gzip of `/metrics` saves a scrape: bytes, not instructions, so counted once,
        // natively.
        let scrape = if endpoints.contains(&"/metrics") {
            Some(run::scrape(&service.launch, &service.endpoints)?)
        } else {
            None
        };

        let report = Report::new(
            &subjects,
            &endpoints,
            &figures,
            &self,
            instructions_per_ns,
            rate_path,
            scrape,
        );
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", report.render());
        }
        Ok(())
    }
}

/// The bare handler, the service as shipped, the service with logs off, and the service
/// without each feature `priced` knows.
fn subjects(
    service: &std::path::Path,
    bare: &std::path::Path,
    priced: &std::path::Path,
    endpoints: &[&'static str],
) -> Result<Vec<Subject>> {
    let launch = |binary: &std::path::Path, args: Vec<String>, env| Launch {
        binary: binary.to_path_buf(),
        args,
        env,
    };
    let mut subjects = vec![
        Subject {
            key: "bare".to_owned(),
            label: "bare axum handler".to_owned(),
            launch: launch(bare, vec![], vec![]),
            endpoints: endpoints
                .iter()
                .copied()
                .filter(|path| matches!(*path, "/" | "/health"))
                .collect(),
        },
        Subject {
            key: "service".to_owned(),
            label: "the service (logs at info)".to_owned(),
            launch: launch(service, vec![], vec![]),
            endpoints: endpoints.to_vec(),
        },
        Subject {
            key: "logs-off".to_owned(),
            label: "the service, APP_LOG_LEVEL=off".to_owned(),
            launch: launch(service, vec![], vec![("APP_LOG_LEVEL", "off")]),
            endpoints: endpoints.to_vec(),
        },
    ];
    // What the features' prices are differences from: the same binary, nothing left out, so
    // that code layout, which differs between binaries, does not enter the prices.
    subjects.push(Subject {
        key: "priced".to_owned(),
        label: "the service as `priced none` builds it".to_owned(),
        launch: launch(priced, vec!["none".to_owned()], vec![]),
        endpoints: endpoints.to_vec(),
    });
    let names = process::capture(std::process::Command::new(priced).arg("--list"))?;
    for name in names.lines().map(str::trim).filter(|name| !name.is_empty()) {
        subjects.push(Subject {
            key: format!("without-{name}"),
            label: format!("the service without {}", name.replace('-', " ")),
            launch: launch(priced, vec![name.to_owned()], vec![]),
            endpoints: endpoints.to_vec(),
        });
    }
    Ok(subjects)
}

/// One counted run: a subject, the endpoint it is loaded on (`None`: the run without
/// requests), and which repetition.
struct Job<'a> {
    subject: &'a Subject,
    path: Option<&'static str>,
    repetition: u32,
}

type Counts = BTreeMap<(String, Option<&'static str>, u32), u64>;

/// Every run, on as many workers as the machine has cores: callgrind runs each process on one
/// thread at a time, and counts do not depend on what else runs.
fn count_all(subjects: &[Subject], flags: &Cost, scratch: &std::path::Path) -> Result<Counts> {
    let mut jobs = Vec::new();
    for repetition in 0..flags.repeat {
        for subject in subjects {
            jobs.push(Job {
                subject,
                path: None,
                repetition,
            });
            for &path in &subject.endpoints {
                jobs.push(Job {
                    subject,
                    path: Some(path),
                    repetition,
                });
            }
        }
    }
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let counts = Mutex::new(Counts::new());
    let status = StatusLine::new("cost: ");
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let requests = Requests {
                            warm_up: &job.subject.endpoints,
                            path: job.path.unwrap_or("/"),
                            count: job.path.map_or(0, |_| flags.requests),
                        };
                        let instructions =
                            run::instructions(&job.subject.launch, requests, scratch)
                                .with_context(|| {
                                    format!(
                                        "cannot count {} on {}",
                                        job.subject.label,
                                        job.path.unwrap_or("no requests")
                                    )
                                })?;
                        counts
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(
                                (job.subject.key.clone(), job.path, job.repetition),
                                instructions,
                            );
                        let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                        status.set(&format!(
                            "{finished}/{} runs under callgrind counted",
                            jobs.len()
                        ));
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a counting thread panicked"))??;
        }
        Ok(())
    })?;
    status.finish();
    Ok(counts
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// Instructions per request for each subject and endpoint: each repetition's difference between
/// the loaded run and the run without requests, over the requests.
fn figures(
    subjects: &[Subject],
    counts: &Counts,
    requests: u32,
) -> BTreeMap<(String, &'static str), Figure> {
    let mut figures = BTreeMap::new();
    for subject in subjects {
        for &path in &subject.endpoints {
            let samples: Vec<f64> = counts
                .iter()
                .filter(|((key, at, _), _)| *key == subject.key && *at == Some(path))
                .filter_map(|((key, _, repetition), &loaded)| {
                    let idle = counts.get(&(key.clone(), None, *repetition))?;
                    Some((loaded as f64 - *idle as f64) / f64::from(requests))
                })
                .collect();
            figures.insert((subject.key.clone(), path), Figure::from_samples(samples));
        }
    }
    figures
}
