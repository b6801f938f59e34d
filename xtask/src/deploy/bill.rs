//! What the service `deploy` creates costs a month, from assumptions that flags change
//! (defaults: us-east-1 list prices of 2025, 730 hours a month). Per task: Fargate vCPU- and
//! GB-hours (arm64 at its own, lower prices) and the logs' ingestion. The load balancer: its
//! hours and a public IPv4 address per AZ (at least two), unless `--shared-listener` shares one;
//! the LCUs this service's traffic adds either way. The way to ECR and `CloudWatch` Logs: a NAT
//! gateway in each AZ (so that one AZ's outage strands no other), each with an address, and
//! its per-GB charge; or the interface endpoints, billed per AZ-hour, and theirs (the s3 gateway
//! endpoint, which carries image layers, is free); or with `--public-ip` an address per task.
//! Not counted: transfer to the internet, ECR storage (`compare` estimates it), log storage,
//! Savings Plans and Spot. A pure function of the flags: `deploy --dry-run` prints it without
//! calling AWS.

use crate::flags::{Arch, Deploy, Prices};
use crate::output::Table;

/// As AWS's pricing calculator counts a month: 365 × 24 / 12.
const HOURS_A_MONTH: f64 = 730.0;

/// The interface endpoints a task in a private subnet without a NAT gateway needs, each billed
/// per AZ-hour; the s3 gateway endpoint it also needs is free.
const INTERFACE_ENDPOINTS: [&str; 3] = ["ecr.api", "ecr.dkr", "logs"];

/// A load balancer needs subnets in at least two AZs, and holds a public IPv4 address in each.
const MIN_LOAD_BALANCER_AZS: u32 = 2;

/// How tasks reach ECR, S3 and `CloudWatch` Logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Egress {
    /// Private subnets routed through a NAT gateway in each AZ.
    Nat,
    /// Private subnets with the interface endpoints and the s3 gateway endpoint.
    Endpoints,
    /// Public subnets, a public IPv4 address on each task (`--public-ip`).
    PublicIp,
}

/// One line of an estimate.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    label: String,
    /// How the amount is reached: `2 × 730 h × $0.045`.
    basis: String,
    usd: f64,
}

/// A month's cost, line by line.
#[derive(Debug, Clone, PartialEq)]
struct Estimate {
    items: Vec<Item>,
}

/// The monthly cost at `--min` and at `--max` tasks; through NAT gateways, also what the VPC
/// endpoints would cost instead; then the assumptions.
pub(super) fn print(deploy: &Deploy) {
    let egress = [Egress::Nat, Egress::PublicIp][usize::from(deploy.public_ip)];
    for tasks in [deploy.min, deploy.max] {
        println!("\nmonthly cost at {tasks} task(s):");
        print!("{}", monthly(deploy, tasks, egress).render());
        if egress == Egress::Nat {
            let endpoints = monthly(deploy, tasks, Egress::Endpoints).total();
            println!("with VPC endpoints instead of NAT gateways: {endpoints:.2} USD a month");
        }
    }
    println!("{}", note(&deploy.prices));
}

/// What `tasks` of the deploy's tasks cost a month, reaching AWS by `egress`; the load
/// balancer's hours and addresses only when the service has its own.
fn monthly(deploy: &Deploy, tasks: u32, egress: Egress) -> Estimate {
    let prices = &deploy.prices;
    let (arch, vcpu_price, gb_price) = if deploy.arch == Arch::Arm64 {
        let arm = (prices.fargate_arm_vcpu_price, prices.fargate_arm_gb_price);
        ("arm64", arm.0, arm.1)
    } else {
        ("x86_64", prices.fargate_vcpu_price, prices.fargate_gb_price)
    };
    let vcpu = f64::from(deploy.cpu) / 1024.0;
    let gigabytes = f64::from(deploy.memory) / 1024.0;
    let own_load_balancer = deploy.shared_listener.is_none();
    let each = plural(tasks, "task");
    let mut items = vec![
        Item::hourly(
            &format!("Fargate vCPU ({arch})"),
            &format!("{each} × {vcpu} vCPU"),
            f64::from(tasks) * vcpu,
            vcpu_price,
        ),
        Item::hourly(
            &format!("Fargate memory ({arch})"),
            &format!("{each} × {gigabytes} GB"),
            f64::from(tasks) * gigabytes,
            gb_price,
        ),
    ];

    if own_load_balancer {
        let addresses = prices.azs.max(MIN_LOAD_BALANCER_AZS);
        items.push(Item::hourly("load balancer", "", 1.0, prices.alb_price));
        items.push(Item::addresses("load balancer IPv4", addresses, prices));
    }
    let lcus = format!("{} LCU", prices.lcus);
    items.push(Item::hourly(
        "load balancer LCUs",
        &lcus,
        prices.lcus,
        prices.lcu_price,
    ));

    let azs = f64::from(prices.azs);
    let processed_gb = prices.egress_gb + prices.log_gb;
    match egress {
        Egress::Nat => items.extend([
            Item::hourly(
                "NAT gateways",
                &format!("{} (one per AZ)", prices.azs),
                azs,
                prices.nat_price,
            ),
            Item::addresses("NAT gateways' IPv4", prices.azs, prices),
            Item::per_gb("NAT data", tasks, processed_gb, prices.nat_gb_price),
        ]),
        Egress::Endpoints => {
            // Each endpoint is billed in each AZ.
            let endpoint_azs: f64 = INTERFACE_ENDPOINTS.iter().map(|_| azs).sum();
            items.extend([
                Item::hourly(
                    "interface endpoints",
                    &format!(
                        "{} endpoints × {}",
                        INTERFACE_ENDPOINTS.len(),
                        plural(prices.azs, "AZ")
                    ),
                    endpoint_azs,
                    prices.endpoint_price,
                ),
                Item::per_gb(
                    "endpoint data",
                    tasks,
                    processed_gb,
                    prices.endpoint_gb_price,
                ),
            ]);
        }
        Egress::PublicIp => items.push(Item::addresses("tasks' IPv4", tasks, prices)),
    }

    let logs = Item::per_gb("log ingestion", tasks, prices.log_gb, prices.log_price);
    items.push(logs);
    Estimate { items }
}

impl Item {
    /// `units` of something billed by the hour, for a month; `units_text` says what they are
    /// (nothing for one).
    fn hourly(label: &str, units_text: &str, units: f64, price: f64) -> Self {
        let hours = format!("{HOURS_A_MONTH} h × {}", dollars(price));
        Self {
            label: label.to_owned(),
            basis: if units_text.is_empty() {
                hours
            } else {
                format!("{units_text} × {hours}")
            },
            usd: units * HOURS_A_MONTH * price,
        }
    }

    /// Public IPv4 addresses for a month.
    fn addresses(label: &str, addresses: u32, prices: &Prices) -> Self {
        Self::hourly(
            label,
            &plural(addresses, "address"),
            f64::from(addresses),
            prices.ipv4_price,
        )
    }

    /// A month's gigabytes from each task.
    fn per_gb(label: &str, tasks: u32, gigabytes: f64, price: f64) -> Self {
        Self {
            label: label.to_owned(),
            basis: format!(
                "{} × {gigabytes} GB × {}",
                plural(tasks, "task"),
                dollars(price)
            ),
            usd: f64::from(tasks) * gigabytes * price,
        }
    }
}

impl Estimate {
    fn total(&self) -> f64 {
        self.items.iter().map(|item| item.usd).sum()
    }

    /// One line per item, then the total, in US dollars to the cent.
    fn render(&self) -> String {
        let mut table = Table::new(["item", "basis", "USD a month"]).numeric(&[2]);
        for item in &self.items {
            table.row([item.label.clone(), item.basis.clone(), cents(item.usd)]);
        }
        table.row(["total".to_owned(), String::new(), cents(self.total())]);
        table.render()
    }
}

/// The assumptions in a sentence, and the flags that change them.
fn note(prices: &Prices) -> String {
    format!(
        "Cost estimate: us-east-1 list prices of 2025 over {HOURS_A_MONTH} hours a month; {} \
         with a NAT gateway or the {} interface endpoints in each; {} LCU; {} GB of logs and {} \
         GB more through NAT or endpoints per task a month; not counted: transfer to the \
         internet, ECR and log storage. Change with --azs, --lcus, --log-gb, --egress-gb and the \
         --*-price flags (deploy --help lists them).",
        plural(prices.azs, "AZ"),
        INTERFACE_ENDPOINTS.join(", "),
        prices.lcus,
        prices.log_gb,
        prices.egress_gb,
    )
}

/// A price as written: `$0.50`, `$0.0225`, `$0.004445`.
fn dollars(usd: f64) -> String {
    let text = usd.to_string();
    let decimals = text
        .split_once('.')
        .map_or(0, |(_, decimals)| decimals.len());
    if decimals >= 2 {
        format!("${text}")
    } else {
        format!("${usd:.2}")
    }
}

/// An amount to the cent, half a cent up (`0.495` is stored as 0.49499…).
fn cents(usd: f64) -> String {
    format!("{:.2}", (usd * 100.0).round() / 100.0)
}

/// `1 task`, `10 tasks`, `2 addresses`.
fn plural(count: u32, noun: &str) -> String {
    match (count, noun.ends_with('s')) {
        (1, _) => format!("1 {noun}"),
        (_, true) => format!("{count} {noun}es"),
        (_, false) => format!("{count} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        deploy: Deploy,
    }

    /// `deploy --cluster web --subnets subnet-a --execution-role role WORDS`: 0.25 vCPU and
    /// 0.5 GB on x86 by default.
    fn deploy(words: &str) -> Deploy {
        let required = "deploy --cluster web --subnets subnet-a --execution-role role";
        Flags::try_parse_from(required.split(' ').chain(words.split_whitespace()))
            .expect(words)
            .deploy
    }

    /// The estimate's lines against hand-computed ones, to a billionth of a dollar.
    fn assert_lines(estimate: &Estimate, expected: &[(&str, f64)], total: f64) {
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
        let items = &estimate.items;
        let same = |(item, (label, usd)): (&Item, &(&str, f64))| {
            item.label == *label && near(item.usd, *usd)
        };
        let all_same = items.len() == expected.len() && items.iter().zip(expected).all(same);
        assert!(all_same, "{items:?} not {expected:?}");
        let sum = estimate.total();
        assert!(near(sum, total), "total {sum} not {total}");
    }

    #[test]
    fn one_small_x86_task_through_nat_in_two_azs() {
        let estimate = monthly(&deploy(""), 1, Egress::Nat);
        assert_lines(
            &estimate,
            &[
                // 0.25 vCPU × 730 h × 0.04048, 0.5 GB × 730 h × 0.004445
                ("Fargate vCPU (x86_64)", 7.3876),
                ("Fargate memory (x86_64)", 1.622_425),
                ("load balancer", 16.425),
                ("load balancer IPv4", 7.3),
                ("load balancer LCUs", 5.84),
                // Two gateways, one per AZ, each with its address.
                ("NAT gateways", 65.7),
                ("NAT gateways' IPv4", 7.3),
                // (10 GB + 1 GB of logs) × 0.045
                ("NAT data", 0.495),
                ("log ingestion", 0.5),
            ],
            112.570_025,
        );
    }

    const SHARED_ARM: &str = "--arch arm64 --shared-listener arn:listener \
                              --shared-security-group sg-1 --host api.example.test";

    #[test]
    fn ten_arm_tasks_through_endpoints_behind_a_shared_load_balancer() {
        let estimate = monthly(&deploy(SHARED_ARM), 10, Egress::Endpoints);
        assert_lines(
            &estimate,
            &[
                // 10 × 0.25 vCPU × 730 h × 0.03238, 10 × 0.5 GB × 730 h × 0.00356
                ("Fargate vCPU (arm64)", 59.0935),
                ("Fargate memory (arm64)", 12.994),
                // The shared balancer's hours and addresses are not this service's.
                ("load balancer LCUs", 5.84),
                // 3 endpoints × 2 AZs × 730 h × 0.01
                ("interface endpoints", 43.8),
                // 10 × 11 GB × 0.01
                ("endpoint data", 1.1),
                ("log ingestion", 5.0),
            ],
            127.8275,
        );
    }

    #[test]
    fn public_ips_cost_an_address_per_task_and_the_balancer_keeps_two() {
        let estimate = monthly(&deploy("--azs 1"), 3, Egress::PublicIp);
        assert_lines(
            &estimate,
            &[
                ("Fargate vCPU (x86_64)", 22.1628),
                ("Fargate memory (x86_64)", 4.867_275),
                ("load balancer", 16.425),
                // One AZ asked for, but a load balancer spans two.
                ("load balancer IPv4", 7.3),
                ("load balancer LCUs", 5.84),
                ("tasks' IPv4", 10.95),
                ("log ingestion", 1.5),
            ],
            69.045_075,
        );
    }

    #[test]
    fn the_table_shows_how_each_line_is_reached_and_rounds_to_the_cent() {
        let table = monthly(&deploy(""), 1, Egress::Nat).render();
        let words: Vec<String> = (table.lines())
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let vcpu = "Fargate vCPU (x86_64) 1 task × 0.25 vCPU × 730 h × $0.04048 7.39";
        assert_eq!(words[1], vcpu, "{table}");
        assert_eq!(words[words.len() - 1], "total 112.57", "{table}");
    }
}
