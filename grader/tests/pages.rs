//! The feedback and class pages in a real browser: a made-up class of lab 23
//! records (and the solution's) is written out as `grader class` writes it,
//! headless Chromium (driven through chromedriver's W3C WebDriver HTTP API)
//! opens `class.html` and a student's `feedback.html`, and the test reads
//! off the live DOM that every chart and the flamegraph have a size, then
//! checks each screenshot is a PNG of the viewport with something on it.
//!
//! With `UPDATE_SCREENSHOT=1` the screenshots go to the book
//! (`docs/src/images/feedback-page.png`, `docs/src/images/class-page.png`);
//! otherwise to a temporary folder.
//!
//! Without chromium and chromedriver the test says so and passes, except
//! on CI (`CI` set), where it fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use grader::pages;
use grader::record::{Check, Distribution, Environment, Flamegraph, LabRecord, Measurement, Record, Status};
use grader::rubric::MethodKind;
use reqwest::Method;
use serde_json::{Value, json};

/// The longest any one wait may take.
const WAIT: Duration = Duration::from_secs(15);
/// The page's size in the browser, and so the screenshots'.
const VIEWPORT: (u64, u64) = (1200, 760);
/// Where the book's screenshots live, from the kit's root.
const FEEDBACK_SCREENSHOT: &str = "docs/src/images/feedback-page.png";
const CLASS_SCREENSHOT: &str = "docs/src/images/class-page.png";
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const SEED: u64 = 2026;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feedback_and_class_pages_show_their_charts_in_a_browser() {
    let out = tempfile::tempdir().expect("a scratch folder");
    let students = write_class(out.path());
    let Some(tools) = Tools::find() else { return };
    let browser = Browser::open(&tools).await;
    let update = std::env::var("UPDATE_SCREENSHOT").is_ok_and(|v| v == "1");
    let kit = || lab_protocol::kit::root_from_current_dir().unwrap_or_else(|err| panic!("{err}"));

    // A student's page: a chart per measurement, the latency CDF, the flamegraph.
    let (student, record) = &students[4];
    let page = out.path().join("students").join(student).join("feedback.html");
    browser.navigate(&file_url(&page)).await;
    let measurements = record.labs[0].measurements.len();
    let charts = browser.sizes("figure.measurement svg").await;
    assert_eq!(charts.len(), measurements, "a chart per measurement");
    let cdfs = browser.sizes("figure.cdf svg").await;
    assert_eq!(cdfs.len(), 1, "the one measurement with per-request values has a CDF");
    for (width, height) in charts.iter().chain(&cdfs) {
        assert!(*width > 100.0 && *height > 50.0, "a chart of {width} x {height} px");
    }
    let image = browser
        .execute("const i = document.querySelector('figure.flamegraph img'); return i ? [i.complete, i.naturalWidth] : null;")
        .await;
    assert_eq!(image, json!([true, 1200]), "the flamegraph beside the page loads");
    let title = browser.execute("return document.querySelector('h1').textContent;").await;
    assert_eq!(title, json!(format!("Feedback: {student}")));
    // The screenshot shows the lab: its score, its checks and the first charts.
    browser.execute("document.querySelector('section.lab').scrollIntoView();").await;
    let png = browser.screenshot().await;
    check_png(&png);
    let path = if update { kit().join(FEEDBACK_SCREENSHOT) } else { out.path().join("feedback.png") };
    std::fs::write(&path, &png).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));

    // The class page: the score histogram, pass rates, speedups, a row per student.
    browser.navigate(&file_url(&out.path().join("class.html"))).await;
    let charts = browser.sizes("figure svg").await;
    assert_eq!(charts.len(), 3, "scores, pass rates and speedups");
    for (width, height) in &charts {
        assert!(*width > 300.0 && *height > 100.0, "a chart of {width} x {height} px");
    }
    let links = browser.execute("return [...document.querySelectorAll('table.students a')].map(a => a.href);").await;
    let links = links.as_array().expect("a list of links");
    assert_eq!(links.len(), students.len());
    for link in links {
        let link = link.as_str().expect("a URL");
        let file = link.strip_prefix("file://").expect("a file URL");
        assert!(Path::new(file).is_file(), "{link} leads nowhere");
    }
    let ranked = browser.execute("return document.getElementById('leaderboard') !== null;").await;
    assert_eq!(ranked, json!(false), "no leaderboard unless asked for");
    // The screenshot shows the pass rates and the speedups.
    browser.execute("document.getElementById('checks').scrollIntoView();").await;
    let png = browser.screenshot().await;
    check_png(&png);
    let path = if update { kit().join(CLASS_SCREENSHOT) } else { out.path().join("class.png") };
    std::fs::write(&path, &png).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
}

#[test]
fn export_html_writes_a_record_s_page_and_its_flamegraph_into_a_folder() {
    let dir = tempfile::tempdir().expect("a scratch folder");
    let write = |name: &str, record: &Record| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(record).expect("JSON")).expect("written");
        path
    };
    let ana = write("ana.json", &record(lab23(0.5, true)));
    let solution = write("solution.json", &record(lab23(1.0, false)));
    let out = dir.path().join("page");
    let grader =
        |args: &[&std::ffi::OsStr]| Command::new(env!("CARGO_BIN_EXE_grader")).args(args).output().expect("runs");
    let output = grader(&[
        "export".as_ref(),
        "html".as_ref(),
        ana.as_os_str(),
        "--reference".as_ref(),
        solution.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("feedback page written to"), "{stderr}");
    let html = std::fs::read_to_string(out.join("feedback.html")).expect("the page");
    assert!(html.contains("<h1>Feedback: ana</h1>"), "named after the record");
    assert!(html.contains("The solution was graded on the same seed"), "the reference is drawn");
    assert!(out.join("flamegraph-profiling.svg").is_file(), "the flamegraph beside the page");

    // Without --out, beside the record; --reference is for html alone.
    let output = grader(&["export".as_ref(), "html".as_ref(), ana.as_os_str()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dir.path().join("feedback.html").is_file());
    let output =
        grader(&["export".as_ref(), "junit".as_ref(), ana.as_os_str(), "--reference".as_ref(), solution.as_os_str()]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn check_png(png: &[u8]) {
    assert!(png.starts_with(PNG_SIGNATURE), "the screenshot is not a PNG");
    assert!(png.len() > 30_000, "the screenshot is only {} bytes: a blank page?", png.len());
    assert_eq!(png_size(png), VIEWPORT, "the screenshot's width and height");
}

/// A PNG's width and height, from its header.
fn png_size(png: &[u8]) -> (u64, u64) {
    let number = |at: usize| png.get(at..at + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]).into());
    (number(16), number(20))
}

// --- A made-up class ------------------------------------------------------

/// Writes a class's pages under `out` as `grader class` lays them out; its students and records.
fn write_class(out: &Path) -> Vec<(String, Record)> {
    let names = [
        "ana", "ben", "chloe", "dan", "eva", "femi", "gus", "hana", "ivan", "jo", "kai", "lena", "marco", "nia",
        "omar", "pia", "quinn", "rosa",
    ];
    let students: Vec<(String, Record)> = (0..)
        .zip(names)
        .map(|(i, name)| {
            // Skill from 0 to 1, spread over the class (the same every run).
            let skill = f64::from((i * 7) % 18) / 17.0;
            (name.to_string(), record(lab23(skill, i == 4)))
        })
        .collect();
    let reference = [record(lab23(1.0, true))];
    for (name, record) in &students {
        let folder = out.join("students").join(name);
        std::fs::create_dir_all(&folder).expect("a student's folder");
        for (file, text) in pages::feedback::files(record, &reference, &format!("Feedback: {name}")).expect("a page") {
            std::fs::write(folder.join(file), text).expect("written");
        }
    }
    let unreadable = [("tom".to_string(), "tom.zip: not a folder, a git repository or a .tar.gz".to_string())];
    let class =
        pages::class::Class { students: &students, unreadable: &unreadable, reference: &reference, leaderboard: false };
    std::fs::write(out.join("class.html"), pages::class::html(&class).expect("a page")).expect("written");
    students
}

fn record(lab: LabRecord) -> Record {
    Record {
        labs: vec![lab],
        environment: Environment {
            cpu_model: "Test CPU".into(),
            cores: 2,
            load_average: [0.4, 0.3, 0.2],
            rustc: "rustc 1.95.0".into(),
            seed: SEED,
            valgrind: Some("valgrind-3.19.0".into()),
            grader_version: "0.1.0".into(),
            kit: "/work/kit".into(),
            kit_commit: Some("d966ea4c1b0a8e2f3d4c5b6a79808182838485ff".into()),
            kit_modified: Vec::new(),
            containment: "bubblewrap 0.8.0: no network, read-only /usr, private /tmp, rlimits".into(),
        },
    }
}

/// One measured side of a check: id, title, points, the measurement, and
/// the ratio at which it earns full points.
struct Spec {
    check: &'static str,
    title: &'static str,
    points: f64,
    id: &'static str,
    kind: MethodKind,
    unit: &'static str,
    method: &'static str,
    baseline: f64,
    /// The best target a fix reaches (the solution's).
    best: f64,
    full_at: f64,
}

const SPECS: [Spec; 5] = [
    Spec {
        check: "parse",
        title: "A one-day report reads one day, not the whole log",
        points: 20.0,
        id: "instructions_per_one_day_report",
        kind: MethodKind::Callgrind,
        unit: "instructions/request",
        method: "callgrind instructions (exact)",
        baseline: 48.2e6,
        best: 0.21e6,
        full_at: 50.0,
    },
    Spec {
        check: "growth",
        title: "Report cost grows with the data, not with its square",
        points: 20.0,
        id: "cost_growth_when_the_log_doubles",
        kind: MethodKind::Callgrind,
        unit: "x",
        method: "callgrind instructions, the log doubled (exact)",
        baseline: 3.9,
        best: 1.02,
        full_at: 3.0,
    },
    Spec {
        check: "allocations",
        title: "Allocations per sale a report reads",
        points: 20.0,
        id: "allocations_per_year_of_sales",
        kind: MethodKind::Dhat,
        unit: "allocations/request",
        method: "dhat (exact)",
        baseline: 61_400.0,
        best: 12.0,
        full_at: 1000.0,
    },
    Spec {
        check: "leak",
        title: "Heap kept alive per request after warm-up",
        points: 15.0,
        id: "retained_bytes_per_request",
        kind: MethodKind::Dhat,
        unit: "bytes/request",
        method: "dhat (exact)",
        baseline: 2_310.0,
        best: 1.0,
        full_at: 500.0,
    },
    Spec {
        check: "blocking",
        title: "Lookups wait for no one's slow work",
        points: 15.0,
        id: "lookup_wait_share_while_signing",
        kind: MethodKind::PairedRounds,
        unit: "ms",
        method: "paired rounds, median lookup while batches are signed",
        baseline: 41.0,
        best: 0.35,
        full_at: 20.0,
    },
];

/// A lab 23 record of a student of `skill` (0: the starter, 1: the solution).
fn lab23(skill: f64, flamegraph: bool) -> LabRecord {
    let mut checks = vec![Check {
        id: "correctness".into(),
        title: "Answers equal the baseline's on a fresh seed".into(),
        passed: true,
        points: 10.0,
        max_points: 10.0,
        evidence: "3 mixes, 1200 answers equal the baseline's".into(),
        bonus: false,
        category: None,
        hint: None,
    }];
    let mut measurements = Vec::new();
    for (k, spec) in (0u32..).zip(&SPECS) {
        // Each fix is found by students past a skill of its own.
        let reach = (skill * 1.4 - f64::from(k) * 0.12).clamp(0.0, 1.0);
        let target = spec.baseline * (spec.best / spec.baseline).powf(reach);
        let ratio = spec.baseline / target;
        let share = (ratio.ln() / spec.full_at.ln()).clamp(0.0, 1.0);
        let points = (spec.points * share * 10.0).round() / 10.0;
        let passed = share >= 1.0;
        checks.push(Check {
            id: spec.check.into(),
            title: spec.title.into(),
            passed,
            points,
            max_points: spec.points,
            evidence: format!(
                "{}: baseline {} → target {} {}; {ratio:.2}x; full points at {}x",
                spec.method,
                shown(spec.baseline),
                shown(target),
                spec.unit,
                spec.full_at
            ),
            bonus: false,
            category: None,
            hint: (!passed).then(|| format!("cargo xtask hint profiling --check {} (3 hints)", spec.check)),
        });
        let samples = if spec.kind == MethodKind::PairedRounds { 5 } else { 1 };
        let mut m = Measurement {
            id: spec.id.into(),
            kind: spec.kind,
            unit: spec.unit.into(),
            method: spec.method.into(),
            baseline: spec.baseline,
            target,
            ratio,
            ratio_low: ratio * if samples > 1 { 0.8 } else { 1.0 },
            ratio_high: ratio * if samples > 1 { 1.2 } else { 1.0 },
            samples,
            distribution: None,
        };
        if spec.kind == MethodKind::PairedRounds {
            m.distribution = Some(Distribution::of(
                "latency of one product lookup while receipted batches are signed (every round)",
                "ms",
                &lookups(1.0),
                &lookups(1.0 - reach),
            ));
        }
        measurements.push(m);
    }
    let score = checks.iter().map(|c| c.points).sum::<f64>();
    LabRecord {
        lab: "profiling".into(),
        title: "Lab 23: profiling and benchmarking".into(),
        target: "submission".into(),
        status: Status::Graded,
        reason: None,
        score: (score * 10.0).round() / 10.0,
        max_score: 100.0,
        bonus: 0.0,
        bonus_max: 0.0,
        categories: Vec::new(),
        checks,
        measurements,
        seconds: 21.0,
        flamegraph: flamegraph
            .then(|| Flamegraph { workload: "year-long reports, 40 requests x 20 at 99 Hz".into(), svg: flame() }),
    }
}

/// 100 lookups' latencies in ms: a fast lookup, or one that waits behind a
/// signing batch for a share `blocked` of them.
fn lookups(blocked: f64) -> Vec<f64> {
    (0..100u32)
        .map(|i| {
            let spread = f64::from((i * 37) % 100) / 100.0;
            let fast = 0.25 + 0.2 * spread;
            if spread < blocked * 0.9 { fast + 4.0 + 60.0 * spread * spread } else { fast }
        })
        .collect()
}

/// A small flamegraph in the shape pprof writes (frames as boxes, callers below).
fn flame() -> String {
    let frames: [(u32, f64, f64, &str); 9] = [
        (0, 0.0, 1.0, "all"),
        (1, 0.0, 0.98, "driver::run"),
        (2, 0.0, 0.97, "solution_profiling::report"),
        (3, 0.0, 0.62, "solution_profiling::log::parse_day"),
        (3, 0.62, 0.3, "solution_profiling::report::summarise"),
        (4, 0.0, 0.4, "core::str::<impl str>::split"),
        (4, 0.4, 0.2, "time::Date::parse"),
        (4, 0.62, 0.25, "alloc::vec::Vec<T>::push"),
        (5, 0.0, 0.3, "core::str::pattern::memchr"),
    ];
    let mut svg = String::from(
        "<svg version=\"1.1\" width=\"1200\" height=\"150\" viewBox=\"0 0 1200 150\" xmlns=\"http://www.w3.org/2000/svg\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#eeeeee\"/>",
    );
    for (depth, x, w, name) in frames {
        let name = name.replace('<', "&lt;").replace('>', "&gt;");
        let (x, w, y) = (10.0 + x * 1180.0, w * 1180.0, 130 - depth * 22);
        let shade = 120 + (depth * 23) % 100;
        svg.push_str(&format!(
            "<g><title>{name}</title><rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"20\" fill=\"rgb(230,{shade},50)\" rx=\"2\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"12\" font-family=\"Verdana\">{name}</text></g>",
            x + 3.0,
            y + 14
        ));
    }
    svg.push_str("</svg>");
    svg
}

// --- The browser ----------------------------------------------------------

/// Where chromium and chromedriver are installed.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl Tools {
    /// Both tools, or `None` after saying the test is skipped (a failure on CI).
    fn find() -> Option<Tools> {
        let chromium = ["chromium", "chromium-browser", "google-chrome"].into_iter().find_map(on_path);
        match (chromium, on_path("chromedriver")) {
            (Some(chromium), Some(chromedriver)) => Some(Tools { chromium, chromedriver }),
            _ if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: chromium is not installed (apt-get install chromium chromium-driver)");
                None
            }
            _ => panic!("chromium and chromedriver are needed on CI (apt-get install chromium chromium-driver)"),
        }
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|path| path.is_file())
}

/// chromedriver, running until this is dropped.
struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session: a headless Chromium, quit when this is dropped.
struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Driver,
}

impl Browser {
    /// Starts chromedriver on a free port and a session with a [`VIEWPORT`]-sized page.
    async fn open(tools: &Tools) -> Browser {
        let addr = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={}", addr.port()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", tools.chromedriver.display()));
        let driver = Driver { child, addr };
        let http = reqwest::Client::builder().timeout(WAIT).no_proxy().build().expect("an HTTP client");
        let status = format!("http://{addr}/status");
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = match http.get(&status).send().await {
                Ok(answer) => answer.json::<Value>().await.is_ok_and(|body| body["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver was not ready within {} s", WAIT.as_secs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (width, height) = VIEWPORT;
        let options = json!({
            "binary": tools.chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1",
                format!("--window-size={width},{height}"),
            ],
        });
        let capabilities =
            json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let created = webdriver(&http, Method::POST, format!("http://{addr}/session"), Some(capabilities)).await;
        let session = created["sessionId"].as_str().expect("a session id").to_string();
        let browser = Browser { http, session, driver };
        browser.fit_viewport().await;
        browser
    }

    /// Grows the window by what its frame takes, so the page itself is [`VIEWPORT`].
    async fn fit_viewport(&self) {
        let inner = self.execute("return [window.innerWidth, window.innerHeight];").await;
        let outer = self.call(Method::GET, "/window/rect", None).await;
        let size = |value: &Value| value.as_u64().expect("a size in pixels");
        let (width, height) = VIEWPORT;
        let rect = json!({
            "width": size(&outer["width"]) + width - size(&inner[0]),
            "height": size(&outer["height"]) + height - size(&inner[1]),
        });
        self.call(Method::POST, "/window/rect", Some(rect)).await;
    }

    /// Loads `url` (WebDriver answers once the page has loaded).
    async fn navigate(&self, url: &str) {
        self.call(Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// The rendered width and height of each element `css` selects.
    async fn sizes(&self, css: &str) -> Vec<(f64, f64)> {
        let script = format!(
            "return [...document.querySelectorAll({})].map(e => {{ const r = e.getBoundingClientRect(); return [r.width, r.height]; }});",
            json!(css)
        );
        let sizes = self.execute(&script).await;
        let sizes = sizes.as_array().unwrap_or_else(|| panic!("sizes of {css}: {sizes}"));
        sizes.iter().map(|s| (s[0].as_f64().unwrap_or(0.0), s[1].as_f64().unwrap_or(0.0))).collect()
    }

    async fn execute(&self, script: &str) -> Value {
        self.call(Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// The page as the browser shows it, as PNG bytes.
    async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.call(Method::GET, "/screenshot", None).await;
        let encoded = encoded.as_str().expect("a base64 screenshot");
        STANDARD.decode(encoded).unwrap_or_else(|err| panic!("the screenshot's base64: {err}"))
    }

    /// A command of this session, at `path` below `/session/{id}`.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("http://{}/session/{}{path}", self.driver.addr, self.session);
        webdriver(&self.http, method, url, body).await
    }
}

impl Drop for Browser {
    /// Ends the session, which quits Chromium: killing chromedriver alone
    /// would leave it running. Blocking, as a drop must be, and bounded.
    fn drop(&mut self) {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.driver.addr, WAIT) else { return };
        let _ = stream.set_read_timeout(Some(WAIT));
        let _ = stream.set_write_timeout(Some(WAIT));
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.session, self.driver.addr
        );
        // chromedriver answers once Chromium has quit, and keeps the connection open: wait for the first bytes only.
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read(&mut [0; 512]);
        }
    }
}

/// One WebDriver request; its answer's `value`, or a panic with the driver's message.
async fn webdriver(http: &reqwest::Client, method: Method, url: String, body: Option<Value>) -> Value {
    let mut request = http.request(method.clone(), &url);
    if let Some(body) = &body {
        request = request.json(body);
    }
    let answer = request.send().await.unwrap_or_else(|err| panic!("WebDriver {method} {url}: {err}"));
    let status = answer.status();
    let mut body: Value =
        answer.json().await.unwrap_or_else(|err| panic!("WebDriver {method} {url} answered {status}, not JSON: {err}"));
    assert!(status.is_success(), "WebDriver {method} {url} answered {status}: {}", body["value"]);
    body["value"].take()
}

/// A synthetic value as the evidence shows it: small ones with decimals, as the charts do.
fn shown(value: f64) -> String {
    if value < 100.0 { format!("{value:.2}") } else { format!("{value:.0}") }
}
