//! `cargo xtask up`: the stack (the app behind nginx, optionally Prometheus and Grafana) started
//! and waited for until every service is healthy. With the stack already up, the app's
//! replicas whose image changed are replaced one at a time, never all at once.

use anyhow::{Result, bail};

use crate::docker::engine;
use crate::flags;
use crate::process;
use crate::project::variant::Variant;
use crate::stack;
use crate::stack::rolling_update::{self, Plan};

impl flags::Up {
    pub(crate) fn run(self) -> Result<()> {
        engine::require()?;
        if self.monitoring
            && !self.no_grafana
            && std::env::var("GRAFANA_ADMIN_PASSWORD").map_or(true, |p| p.is_empty())
        {
            bail!(
                "Grafana has no default password: set GRAFANA_ADMIN_PASSWORD (or pass --no-grafana)"
            );
        }
        let mut variants = vec![Variant::Scratch];
        if self.single {
            variants.push(Variant::Single);
        }
        for variant in variants {
            stack::build(variant)?;
        }
        let env = stack::image_env()?;
        let mut services = vec!["nginx"];
        if self.monitoring {
            services.push("prometheus");
            if !self.no_grafana {
                services.push("grafana");
            }
        }
        if self.single {
            services.push("app-single");
        }
        let compose = || -> Result<_> {
            let mut command = stack::compose()?;
            command.envs(env.iter().map(|(k, v)| (k, v)));
            if self.monitoring {
                command.args(["--profile", "monitoring"]);
            }
            if self.single {
                command.args(["--profile", "compare"]);
            }
            Ok(command)
        };
        if rolling_update::replicas()?.is_empty() {
            let scale = format!("app={}", self.replicas.unwrap_or(1));
            process::run(
                compose()?
                    .args(["up", "-d", "--no-build", "--scale", &scale, "app"])
                    .args(&services),
            )?;
        } else {
            // Already serving: a changed image rolls in; the other services are compose's
            // to update, without touching the replicas (`--no-deps`).
            rolling_update::roll(&Plan {
                image: stack::app_image(),
                env: env.clone(),
                replicas: self.replicas,
                only_changed: true,
            })?;
            process::run(
                compose()?
                    .args(["up", "-d", "--no-build", "--no-deps"])
                    .args(&services),
            )?;
        }
        services.insert(0, "app");
        stack::wait_healthy(&services)?;
        stack::print_status()
    }
}
