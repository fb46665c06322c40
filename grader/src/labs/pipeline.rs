//! The one grading pipeline every lab runs: read the rubric's settings,
//! probe the services the lab needs, build the baseline, the lab's tools and
//! the target, prepare, gate, measure, clean up, score. A lab's module only
//! implements [`Method`]: what is unique to it.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{Context, Findings, build_baseline, build_target, not_graded, score, unscored};
use crate::build::{self, Binaries, Target};
use crate::process::RunError;
use crate::record::{Flamegraph, LabRecord, Measurement, Status};
use crate::rubric::Rubric;

/// Why grading stopped before scoring, and whose fault it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The kit's own side (baseline, tools, rubric) failed: a bug to report.
    Kit(String),
    /// The target failed (a panic, a timeout, an error): the student's reason.
    Target(String),
}

impl Stop {
    /// The stop from a run of one side.
    pub fn of(is_baseline: bool, err: RunError) -> Stop {
        if is_baseline { Stop::Kit(err.to_string()) } else { Stop::Target(err.to_string()) }
    }

    /// The lab's record for this stop.
    pub fn record(self, rubric: &Rubric, target: &Target) -> LabRecord {
        match self {
            Stop::Target(reason) => unscored(rubric, target, Status::Failed, format!("the target {reason}")),
            Stop::Kit(reason) => unscored(rubric, target, Status::Failed, format!("the kit's baseline {reason}")),
        }
    }
}

/// The kit's side failed.
pub fn kit(err: impl Display) -> Stop {
    Stop::Kit(err.to_string())
}

/// The target failed.
pub fn tgt(err: impl Display) -> Stop {
    Stop::Target(err.to_string())
}

/// The two sides of every comparison.
#[derive(Debug, Clone)]
pub struct Sides {
    pub baseline: Binaries,
    pub target: Binaries,
}

/// The lab's trusted tools (rubric `[tools]`: binary name → package), built.
pub type Tools = BTreeMap<String, PathBuf>;

/// What is unique to one lab's grading.
#[allow(async_fn_in_trait)] // Awaited in place by `grade`; no `Send` bound needed.
pub trait Method {
    /// The rubric's `[workload]` table (give it `#[serde(deny_unknown_fields)]`).
    type Settings: DeserializeOwned;
    /// What the lab set up for its runs (seeded databases, ...), cleaned up at the end.
    type Prepared;

    /// A lab-specific check that its services work, after the generic probe
    /// of the rubric's `services`; an error (one line) marks the lab "not graded".
    async fn probe(_ctx: &Context<'_>, _baseline: &Binaries) -> Result<(), String> {
        Ok(())
    }

    /// Sets up the runs (and may measure the baseline's side once per seed,
    /// with the lab's tools).
    async fn prepare(
        ctx: &Context<'_>,
        settings: &Self::Settings,
        sides: &Sides,
        tools: &Tools,
    ) -> Result<Self::Prepared, Stop>;

    /// `Ok(evidence)` when the target's answers equal the baseline's,
    /// `Err(the first difference)` when not.
    async fn gate(
        ctx: &Context<'_>,
        settings: &Self::Settings,
        sides: &Sides,
        prepared: &Self::Prepared,
    ) -> Result<Result<String, String>, Stop>;

    async fn measure(
        ctx: &Context<'_>,
        settings: &Self::Settings,
        sides: &Sides,
        tools: &Tools,
        prepared: &Self::Prepared,
    ) -> Result<Vec<Measurement>, Stop>;

    /// A flamegraph of the target's hottest workload for the feedback page,
    /// after a passed gate and the measurements (which may say which
    /// workload costs most). Scores nothing; `Err` says why there is none.
    async fn flamegraph(
        _ctx: &Context<'_>,
        _settings: &Self::Settings,
        _sides: &Sides,
        _prepared: &Self::Prepared,
        _measurements: &[Measurement],
    ) -> Result<Option<Flamegraph>, String> {
        Ok(None)
    }

    /// Releases what `prepare` made; runs whatever happened after it.
    async fn cleanup(_ctx: &Context<'_>, _sides: &Sides, _prepared: Self::Prepared) {}
}

/// Grades `target` on a lab with `M`'s method.
pub async fn grade<M: Method>(ctx: &Context<'_>, rubric: &Rubric, target: &Target) -> LabRecord {
    let settings: M::Settings = match rubric.workload() {
        Ok(settings) => settings,
        Err(err) => return kit(format!("{err:#}")).record(rubric, target),
    };
    if let Err(reason) = probe_services(&rubric.services) {
        return not_graded(rubric, target, reason);
    }
    let baseline = match build_baseline(ctx, rubric, target).await {
        Ok(binaries) => binaries,
        Err(record) => return record,
    };
    let mut tools = Tools::new();
    for (bin, package) in &rubric.tools {
        match build::build_tool(ctx.kit, package, bin, ctx.progress).await {
            Ok(path) => tools.insert(bin.clone(), path),
            Err(err) => return unscored(rubric, target, Status::Failed, format!("the kit's {bin} {err}")),
        };
    }
    if let Err(reason) = M::probe(ctx, &baseline).await {
        return not_graded(rubric, target, reason);
    }
    let candidate = match build_target(ctx, rubric, target, &baseline).await {
        Ok(binaries) => binaries,
        Err(record) => return record,
    };
    let sides = Sides { baseline, target: candidate };
    let prepared = match M::prepare(ctx, &settings, &sides, &tools).await {
        Ok(prepared) => prepared,
        Err(stop) => return stop.record(rubric, target),
    };
    let findings = async {
        let mut findings =
            Findings { gate: Some(M::gate(ctx, &settings, &sides, &prepared).await?), ..Findings::default() };
        let mut flamegraph = None;
        if matches!(findings.gate, Some(Ok(_))) {
            findings.measurements = M::measure(ctx, &settings, &sides, &tools, &prepared).await?;
            flamegraph = match M::flamegraph(ctx, &settings, &sides, &prepared, &findings.measurements).await {
                Ok(flamegraph) => flamegraph,
                Err(reason) => {
                    ctx.progress.detail(format!("no flamegraph for the feedback page: {reason}"));
                    None
                }
            };
        }
        Ok::<(Findings, Option<Flamegraph>), Stop>((findings, flamegraph))
    }
    .await;
    M::cleanup(ctx, &sides, prepared).await;
    match findings {
        Ok((findings, flamegraph)) => LabRecord { flamegraph, ..score(rubric, target, findings) },
        Err(stop) => stop.record(rubric, target),
    }
}

/// [`paired_rounds`] timed on the wall clock: run only while no other
/// grading on this machine runs anything (see [`crate::quiet`]).
pub async fn timed_rounds<T, B, BF, C, CF>(
    progress: &crate::report::Progress,
    rounds: usize,
    announce: impl FnMut(usize),
    baseline: B,
    target: C,
) -> Result<Vec<(T, T)>, Stop>
where
    B: FnMut() -> BF,
    BF: Future<Output = Result<T, Stop>>,
    C: FnMut() -> CF,
    CF: Future<Output = Result<T, Stop>>,
{
    let _quiet = crate::quiet::timed(progress).await.map_err(|err| kit(format!("{err:#}")))?;
    paired_rounds(rounds, announce, baseline, target).await
}

/// Runs `rounds` pairs of measurements, alternating which side goes first
/// (A B, B A, ...) so drift in the machine's load hits both alike; returns
/// (baseline, target) per round. `announce` is told each round's number.
pub async fn paired_rounds<T, B, BF, C, CF>(
    rounds: usize,
    mut announce: impl FnMut(usize),
    mut baseline: B,
    mut target: C,
) -> Result<Vec<(T, T)>, Stop>
where
    B: FnMut() -> BF,
    BF: Future<Output = Result<T, Stop>>,
    C: FnMut() -> CF,
    CF: Future<Output = Result<T, Stop>>,
{
    let mut pairs = Vec::with_capacity(rounds);
    for round in 0..rounds {
        announce(round + 1);
        let pair = if round % 2 == 0 {
            let b = baseline().await?;
            (b, target().await?)
        } else {
            let t = target().await?;
            (baseline().await?, t)
        };
        pairs.push(pair);
    }
    Ok(pairs)
}

/// Checks that every service the rubric names answers on its port; the
/// error is the one line a person needs to start it.
pub fn probe_services(services: &[String]) -> Result<(), String> {
    probe_services_with(services, |variable| std::env::var(variable).ok())
}

/// [`probe_services`] with the environment read through `env`.
fn probe_services_with(services: &[String], env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    for service in services {
        let (name, variable, default, port) = match service.as_str() {
            "postgres" => ("PostgreSQL", "DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres", 5432),
            "redis" => ("Redis", "REDIS_URL", "redis://127.0.0.1:6379", 6379),
            other => return Err(format!("the rubric names a service the grader does not know: {other}")),
        };
        let url = env(variable).unwrap_or_else(|| default.to_string());
        let address = host_port(&url, port);
        let reachable = address
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
        if !reachable {
            return Err(format!(
                "{name} is not reachable at {address} ({variable}); start it with `cargo xtask services up`, or point {variable} at a running server"
            ));
        }
    }
    Ok(())
}

/// `host:port` of a `scheme://user:secret@host:port/path` URL, with `port` when it has none.
fn host_port(url: &str, port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    if host.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rounds_alternate_which_side_goes_first() {
        let order = std::cell::RefCell::new(Vec::new());
        let pairs = paired_rounds(
            4,
            |_| {},
            || {
                order.borrow_mut().push('b');
                async { Ok::<_, Stop>(2.0) }
            },
            || {
                order.borrow_mut().push('t');
                async { Ok::<_, Stop>(1.0) }
            },
        )
        .await
        .expect("no stop");
        assert_eq!(pairs, vec![(2.0, 1.0); 4]);
        assert_eq!(order.into_inner().iter().collect::<String>(), "bttbbttb");
    }

    #[tokio::test]
    async fn a_stop_in_any_round_ends_the_rounds() {
        let calls = std::cell::Cell::new(0);
        let result = paired_rounds(
            5,
            |_| {},
            || async { Ok::<_, Stop>(1) },
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move { if n == 2 { Err(tgt("panicked")) } else { Ok(1) } }
            },
        )
        .await;
        assert_eq!(result, Err(Stop::Target("panicked".into())));
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn the_address_of_a_service_url_leaves_out_the_credentials() {
        assert_eq!(host_port("postgres://postgres:secret@db.local:6543/shop", 5432), "db.local:6543");
        assert_eq!(host_port("postgres://127.0.0.1/shop", 5432), "127.0.0.1:5432");
        assert_eq!(host_port("redis://127.0.0.1:6379", 6379), "127.0.0.1:6379");
        assert_eq!(host_port("redis://:pw@cache/0", 6379), "cache:6379");
    }

    #[test]
    fn a_service_nobody_listens_for_is_one_line_naming_its_variable() {
        // Port 1 on loopback: nothing listens there.
        let env = |_: &str| Some("postgres://postgres:secret@127.0.0.1:1/x".to_string());
        let reason = probe_services_with(&["postgres".to_string()], env).unwrap_err();
        assert_eq!(
            reason,
            "PostgreSQL is not reachable at 127.0.0.1:1 (DATABASE_URL); start it with `cargo xtask services up`, or point DATABASE_URL at a running server"
        );
        let unknown = probe_services_with(&["ldap".to_string()], env).unwrap_err();
        assert!(unknown.contains("does not know: ldap"), "{unknown}");
        assert_eq!(probe_services_with(&[], env), Ok(()));
    }
}
