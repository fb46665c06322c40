//! The dashboard in a real browser: the solution serves, headless Chromium
//! (driven through chromedriver's W3C WebDriver HTTP API) loads
//! `/dashboard`, and the test reads the numbers the page shows off its live
//! DOM, then sends more traffic and watches them rise without a reload.
//!
//! The same test takes the guide's screenshot: with `UPDATE_SCREENSHOT=1`
//! it first sends twenty seconds of mixed traffic, so the trend has a
//! shape, and writes `docs/src/labs/monitoring-dashboard.png`; otherwise
//! the PNG goes to a temporary folder and is only checked.
//!
//! Without chromium and chromedriver the test says so and passes, except
//! on CI (`CI` set), where it fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lab_monitoring::checks::Endpoint;
use lab_monitoring::data::{Shop, sku};
use lab_monitoring::lessons::Served;
use lab_monitoring::workload::{self, Workload};
use lab_protocol::Req;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

const BINARY: &str = env!("CARGO_BIN_EXE_solution-monitoring");
const SEED: u64 = 26;
/// The longest any one wait may take.
const WAIT: Duration = Duration::from_secs(15);
/// The longest the whole test may take.
const BUDGET: Duration = Duration::from_secs(60);
/// The page's size in the browser, and so the screenshot's.
const VIEWPORT: (u64, u64) = (1200, 760);
/// Where the guide's screenshot lives, from the kit's root.
const SCREENSHOT: &str = "docs/src/labs/monitoring-dashboard.png";
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// The key of an element reference in WebDriver's answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Requests a second for the screenshot's traffic: from the checks' burst, a dip, then a peak.
const SHAPE: [u32; 20] = [44, 40, 34, 28, 24, 22, 24, 30, 38, 46, 54, 60, 62, 58, 50, 42, 36, 32, 30, 30];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_page_shows_the_live_numbers_in_a_browser() {
    let Some(tools) = Tools::find() else { return };
    tokio::time::timeout(BUDGET, check(tools))
        .await
        .unwrap_or_else(|_| panic!("the browser test took over {} s", BUDGET.as_secs()));
}

async fn check(tools: Tools) {
    let served = Served::start(BINARY, SEED).await;
    let (service, shop) = (&served.probe.service, &served.probe.shop);
    let reads = workload::requests(Workload::Browse, SEED, shop, 60);
    let first_unknown = shop.products.len() as u32 + 1;
    let unknown: Vec<Req> =
        (first_unknown..first_unknown + 3).map(|n| Req::get(format!("/products/{}", sku(n)))).collect();
    send_all(service, &reads[..40], 200).await;
    send_all(service, &unknown, 404).await;
    let mut sent = 43;

    let browser = Browser::open(&tools).await;
    // Loading the page and its event stream is monitoring traffic: the numbers leave it out.
    browser.navigate(&format!("{}/dashboard", service.base)).await;
    let status = until("#status to start with \"live\" (a snapshot arrived)", async || {
        let status = browser.text("#status").await;
        if status.starts_with("live") { Ok(status) } else { Err(format!("#status is {status:?}")) }
    })
    .await;
    let requests = browser.text("#requests").await;
    assert_eq!(requests, sent.to_string(), "#requests after {sent} business requests ({status})");
    assert_eq!(browser.text("#errors").await, "0", "#errors after product reads and 404s (4xx are not errors)");
    assert_eq!(browser.text("#error-ratio").await, "0.0 %");
    for id in ["#p50", "#p95", "#p99"] {
        let latency = browser.text(id).await;
        assert!(latency.ends_with(" ms"), "{id} shows {latency:?}, not a latency in ms");
    }
    let resources = browser.text("#resources").await;
    assert!(resources.contains("MiB"), "#resources shows {resources:?}");

    // Live: the same page, not reloaded, follows the traffic.
    send_all(service, &reads[40..], 200).await;
    sent += 20;
    browser.wait_for_text("#requests", &sent.to_string()).await;

    let update = std::env::var("UPDATE_SCREENSHOT").is_ok_and(|v| v == "1");
    if update {
        sent += send_shaped(service, shop).await;
        browser.wait_for_text("#requests", &sent.to_string()).await;
    }
    let png = browser.screenshot().await;
    assert!(png.starts_with(PNG_SIGNATURE), "the screenshot is not a PNG");
    assert!(png.len() > 10_000, "the screenshot is only {} bytes: a blank page?", png.len());
    assert_eq!(png_size(&png), VIEWPORT, "the screenshot's width and height");
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let path = if update {
        lab_protocol::kit::root_from_current_dir().unwrap_or_else(|err| panic!("{err}")).join(SCREENSHOT)
    } else {
        scratch.path().join("dashboard.png")
    };
    std::fs::write(&path, &png).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
}

/// Sends each of `reqs` in turn; each must answer `status`.
async fn send_all(service: &Endpoint, reqs: &[Req], status: u16) {
    for req in reqs {
        let answer = service.send(req, &[]).await.unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(answer.status, status, "{} {}: {}", req.method, req.uri, answer.body);
    }
}

/// Mixed traffic at [`SHAPE`]'s rates, one second each; how many requests it sent.
async fn send_shaped(service: &Endpoint, shop: &Shop) -> u64 {
    let total: u32 = SHAPE.iter().sum();
    let reqs = workload::requests(Workload::Mixed, SEED, shop, total as usize);
    let mut reqs = reqs.iter();
    let start = Instant::now();
    for (second, rate) in (0u32..).zip(SHAPE) {
        for k in 1..=rate {
            if let Some(req) = reqs.next() {
                service.send(req, &[]).await.unwrap_or_else(|err| panic!("{err}"));
            }
            tokio::time::sleep_until(start + Duration::from_secs(second.into()) + Duration::from_secs(1) * k / rate)
                .await;
        }
    }
    total.into()
}

/// Polls `probe` until it answers `Ok`, for at most [`WAIT`]; its last
/// `Err` says what it saw instead.
async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + WAIT;
    let mut seen = String::from("no answer");
    loop {
        match tokio::time::timeout_at(deadline, probe()).await {
            Ok(Ok(found)) => return found,
            Ok(Err(now)) => seen = now,
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "waited {} s for {what}; last: {seen}", WAIT.as_secs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A PNG's width and height, from its header.
fn png_size(png: &[u8]) -> (u64, u64) {
    let number = |at: usize| png.get(at..at + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]).into());
    (number(16), number(20))
}

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
        until("chromedriver to be ready", async || match http.get(&status).send().await {
            Ok(answer) => match answer.json::<Value>().await {
                Ok(body) if body["value"]["ready"] == true => Ok(()),
                Ok(body) => Err(body.to_string()),
                Err(err) => Err(err.to_string()),
            },
            Err(err) => Err(err.to_string()),
        })
        .await;
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

    async fn navigate(&self, url: &str) {
        self.call(Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// The rendered text of the element `css` selects.
    async fn text(&self, css: &str) -> String {
        let found = self.call(Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        let element = found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element reference for {css}: {found}"));
        let text = self.call(Method::GET, &format!("/element/{element}/text"), None).await;
        text.as_str().unwrap_or_else(|| panic!("the text of {css} is not a string: {text}")).to_string()
    }

    /// Waits until the element `css` selects shows `expected`.
    async fn wait_for_text(&self, css: &str, expected: &str) {
        until(&format!("{css} to show {expected}"), async || {
            let now = self.text(css).await;
            if now == expected { Ok(()) } else { Err(format!("{css} shows {now:?}")) }
        })
        .await;
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
