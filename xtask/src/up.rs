//! `cargo xtask up`: the stack (the app behind nginx, optionally Prometheus and Grafana) started
//! and waited for until every service is healthy.

use anyhow::{Result, bail};

use crate::docker::base_images;
use crate::docker::build;
use crate::docker::engine;
use crate::flags;
use crate::project::profile::CargoProfile;
use crate::project::variant::Variant;
use crate::stack;
use crate::util::process;

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
            build::build(
                variant,
                &crate::project::root(),
                &variant.tag(),
                &CargoProfile::shipped()?,
                false,
                true,
            )?;
        }
        let mut services = vec!["app", "nginx"];
        let mut command = stack::compose()?;
        for (variable, value) in base_images::stack_env()? {
            command.env(variable, value);
        }
        if self.monitoring {
            command.args(["--profile", "monitoring"]);
            services.push("prometheus");
            if !self.no_grafana {
                services.push("grafana");
            }
        }
        if self.single {
            command.args(["--profile", "compare"]);
            services.push("app-single");
        }
        process::run(command.args(["up", "-d", "--no-build"]).args(&services))?;
        stack::wait_healthy(&services)?;
        stack::print_status()
    }
}
