//! The grader's view of a served shop: runs one of the lab's checks
//! (`lab_monitoring::checks`) against an instance from outside it and
//! prints a `lab_protocol::CheckReport` as one JSON line.
//!
//! ```text
//! monitoring-probe metrics --service unix:/cell/http.sock --log-file /cell/service.log \
//!     --payments unix:/svc/payments.sock --database-control unix:/ctl/control.sock --seed 7 --size tiny
//! monitoring-probe alerts --rules exercises/monitoring/src/alerts/rules.yml
//! ```
//!
//! A failure of the target is a line of the report; an error of the kit's
//! (a proxy that does not answer) is one line on stderr and exit status 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use lab_monitoring::checks::{self, Endpoint, Probe};
use lab_monitoring::data::Shop;
use lab_monitoring::payments::{self, Address};
use lab_protocol::CheckReport;
use lab_support::DataArgs;

/// Runs one check of a served shop (or of an alert rules file) and prints its report.
#[derive(Debug, Parser)]
struct Args {
    /// The check: metrics, logs, request_ids, health, dashboard, or alerts.
    check: String,
    /// Where the service listens: host:port or unix:/path.
    #[arg(long, required_unless_present = "rules")]
    service: Option<Address>,
    /// The file the service logs to.
    #[arg(long, required_unless_present = "rules")]
    log_file: Option<PathBuf>,
    /// The payment stub the service charges at.
    #[arg(long, required_unless_present = "rules")]
    payments: Option<Address>,
    /// The control API of the PostgreSQL proxy in front of the service's database.
    #[arg(long, required_unless_present = "rules")]
    database_control: Option<Address>,
    /// `alerts`: the rules file to check.
    #[arg(long, conflicts_with = "service")]
    rules: Option<PathBuf>,
    /// The kit's root (default: found from the current directory).
    #[arg(long)]
    kit: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let ran =
        tokio::runtime::Runtime::new().context("starting the tokio runtime").and_then(|rt| rt.block_on(probe(args)));
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn probe(args: Args) -> anyhow::Result<()> {
    let kit = match args.kit {
        Some(kit) => kit,
        None => lab_protocol::kit::root_from_current_dir().map_err(anyhow::Error::msg)?,
    };
    let report = match (args.check.as_str(), &args.rules) {
        ("alerts", Some(rules)) => {
            let mut report = CheckReport { check: args.check.clone(), ..CheckReport::default() };
            report.failures = match checks::alerts(&kit, rules, &mut report.notes).await? {
                Ok(failures) => failures,
                Err(stop) => vec![stop],
            };
            report
        }
        ("alerts", None) => anyhow::bail!("alerts needs --rules"),
        (_, Some(_)) => anyhow::bail!("--rules goes with the alerts check only"),
        (check, None) => {
            let (Some(service), Some(log), Some(payments), Some(database)) =
                (args.service, args.log_file, args.payments, args.database_control)
            else {
                anyhow::bail!("{check} needs --service, --log-file, --payments and --database-control");
            };
            let probe = Probe {
                service: Endpoint::new(&service),
                log,
                payments: payments::Client::new(&payments),
                database: Endpoint::new(&database),
                shop: Shop::generate(args.data.seed, args.data.size),
                seed: args.data.seed,
                kit,
            };
            checks::run(check, &probe).await?
        }
    };
    lab_protocol::print(&report).context("writing the report")
}
