//! The officer console in headless Chromium, driven through WebDriver
//! (chromedriver), against real nodes: a 3-State federation where KE traces a
//! pistol made in DE, exported to NG and stolen there from the police.
//!
//! Needs Debian's `chromium` and `chromium-driver`: `scripts/setup-browser.sh`
//! installs them (CI runs it from `.ci/run`). Each step saves a screenshot in
//! the test's temporary directory (set `CONSOLE_SCREENSHOTS=DIR` to keep
//! copies, as README's pictures were made).

mod common;
mod fed;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use fed::*;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free loopback port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
    profiles: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the console's browser tests need Debian's chromium and chromium-driver; run scripts/setup-browser.sh (as root) to install them"
            );
        }
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        wait_for("chromedriver to listen", WAIT, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Driver {
            child,
            url,
            profiles: tempfile::tempdir().unwrap(),
        }
    }

    /// A new browser: its own profile, a 1366x768 window, no network but
    /// loopback (the background services would try the internet).
    async fn browser(&self, name: &str) -> Client {
        let profile = self.profiles.path().join(name);
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--window-size=1366,768", "--lang=en-GB",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a chromium session through chromedriver")
    }
}

/// Where a node serves its console.
fn console_url(n: &FedNode) -> String {
    let addr = wait_for("console.addr", WAIT, || {
        std::fs::read_to_string(n.dir.join("console.addr")).ok()
    });
    format!("http://{}/console", addr.trim())
}

async fn shot(c: &Client, dir: &Path, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    if let Ok(keep) = std::env::var("CONSOLE_SCREENSHOTS") {
        let _ = std::fs::create_dir_all(&keep);
        let _ = std::fs::write(PathBuf::from(keep).join(format!("{name}.png")), &png);
    }
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.expect(css);
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Signs in with the one-time password and chooses a new one.
async fn first_sign_in(c: &Client, base: &str, name: &str, otp: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#name", name).await;
    fill(c, "#password", otp).await;
    click(c, "#sign-in").await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#password-form"))
        .await
        .expect("the one-time password leads to the password page");
    fill(c, "#current", otp).await;
    fill(c, "#new", "correct horse battery staple").await;
    fill(c, "#again", "correct horse battery staple").await;
    click(c, "#change-password").await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("form.filters"))
        .await
        .expect("after the password, the trace list");
}

fn officer(n: &FedNode, name: &str, role: &str) -> String {
    let v = n.json(&["officer", "add", name, "--role", role]);
    v["password"].as_str().unwrap().to_string()
}

fn specs() -> Vec<NodeSpec> {
    let story = |serial: &str, confidential: bool| {
        (
            format!(
                r#"{{"id":"DE-{serial}","marking":{{"manufacturer":"Carl Walther","country":"DE","serial":"{serial}","imports":[{{"country":"NG","year":2012}}]}},"category":"pistol","events":[{{"date":"2011-05-03","kind":"manufactured","holder":"manufacturer"}},{{"date":"2012-02-20","kind":"exported","counterpart":"NG","reference":"REF-CANARY-DE"}}]}}"#
            ),
            format!(
                r#"{{"id":"NG-{serial}","marking":{{"manufacturer":"Walther","country":"DE","serial":"{serial}","imports":[{{"country":"NG","year":2012}}]}},"category":"pistol","confidential":{confidential},"events":[{{"date":"2012-03-14","kind":"imported","counterpart":"DE","holder":"state_police"}},{{"date":"2019-07-30","kind":"stolen","holder":"state_police","note":"NOTE-CANARY-NG"}}]}}"#
            ),
        )
    };
    let (de1, ng1) = story("WC1001", false);
    let (de2, ng2) = story("WC2002", true);
    vec![
        NodeSpec::member("DE", vec![de1, de2]),
        NodeSpec::member("NG", vec![ng1, ng2]),
        NodeSpec::member("KE", vec![]),
    ]
}

/// The whole console path: sign in, trace through the form, the chain on the
/// timeline and the map, the point of diversion; a reviewer's approval
/// updating the requester's open page; Arabic right to left; a wrong
/// password refused and audited; a form without its token refused; an
/// officer kept out of the inbox; nothing confidential rendered elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_traces_a_weapon_in_the_console_and_a_reviewer_answers() {
    let driver = Driver::start();
    let fed = Federation::start_with(specs(), |n| {
        if n.state == "NG" {
            std::fs::write(n.dir.join("policy.toml"), "[review]\nconfidential = true\n").unwrap();
        }
    });
    fed.wait_subscribed("KE", "tracenet/1/prefix/DE/CARLWALTHER", &["DE", "NG"]);
    let shots = tempfile::tempdir().unwrap();
    let (ke, ng) = (fed.node("KE"), fed.node("NG"));
    let (ke_url, ng_url) = (console_url(ke), console_url(ng));
    let mut ke_pages: Vec<String> = Vec::new();
    let mut ng_pages: Vec<String> = Vec::new();

    // KE's officer signs in and traces the first pistol through the form.
    let otp = officer(ke, "amina.diallo", "officer");
    let amina = driver.browser("amina").await;
    amina.goto(&format!("{ke_url}/login")).await.unwrap();
    shot(&amina, shots.path(), "01-sign-in").await;
    first_sign_in(&amina, &ke_url, "amina.diallo", &otp).await;
    amina.goto(&format!("{ke_url}/traces/new")).await.unwrap();
    fill(&amina, "#maker", "Walther").await;
    fill(&amina, "#country", "DE").await;
    fill(&amina, "#serial", "WC1001").await;
    fill(&amina, "input[name=import]", "NG:2012").await;
    for (sel, v) in [
        ("#category", "pistol"),
        ("#ground", "seized_in_crime"),
        ("#use", "criminal_investigation"),
    ] {
        amina
            .find(Locator::Css(sel))
            .await
            .unwrap()
            .select_by_value(v)
            .await
            .unwrap();
    }
    fill(&amina, "#case", "CASE-CANARY-KE").await;
    fill(&amina, "#note", "NOTE-CANARY-KE").await;
    shot(&amina, shots.path(), "02-trace-form").await;
    click(&amina, "#send-trace").await;

    // The hit: both holders answered, signatures verified, the chain on the
    // timeline and on the map, the point of diversion in one sentence.
    amina
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#diversion"))
        .await
        .expect("the point of diversion appears");
    let diversion = text(&amina, "#diversion").await;
    assert!(
        diversion.contains("NG")
            && diversion.contains("the police")
            && diversion.contains("stolen"),
        "{diversion}"
    );
    amina
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(
            r#"#holders li.holder-answered[data-state="DE"]"#,
        ))
        .await
        .expect("DE answered");
    let events = amina
        .find_all(Locator::Css("#timeline li.event"))
        .await
        .unwrap();
    let kinds: Vec<String> = futures::future::join_all(events.iter().map(|e| e.text()))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    for (k, word) in kinds
        .iter()
        .zip(["manufactured", "exported", "imported", "stolen"])
    {
        assert!(k.contains(word), "{kinds:?}");
    }
    let badges = amina
        .find_all(Locator::Css("#answers .badge-ok"))
        .await
        .unwrap();
    assert_eq!(badges.len(), 2, "two verified answers");
    assert!(
        amina
            .find(Locator::Css(r#"#map path.diversion[data-country="NG"]"#))
            .await
            .is_ok(),
        "NG marked on the map"
    );
    let stops = amina.find_all(Locator::Css("#map g.stop")).await.unwrap();
    assert_eq!(stops.len(), 2, "DE then NG on the map");
    let first_trace = amina.current_url().await.unwrap().to_string();
    shot(&amina, shots.path(), "03-trace-answered").await;
    amina
        .execute(
            "document.getElementById('timeline').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    shot(&amina, shots.path(), "03b-chain-and-map").await;
    ke_pages.push(amina.source().await.unwrap());

    // An officer has no inbox: no link, and the page itself is refused.
    assert!(
        amina
            .find(Locator::Css(r#"a[href="/console/inbox"]"#))
            .await
            .is_err()
    );
    amina.goto(&format!("{ke_url}/inbox")).await.unwrap();
    let refused = text(&amina, "#problem").await;
    assert!(refused.contains("role does not allow"), "{refused}");
    shot(&amina, shots.path(), "04-inbox-refused").await;

    // A form without its CSRF token is refused, and nothing is sent.
    amina.goto(&format!("{ke_url}/traces/new")).await.unwrap();
    amina
        .execute(
            "document.querySelector('#trace-form input[name=_csrf]').remove();",
            vec![],
        )
        .await
        .unwrap();
    fill(&amina, "#maker", "Walther").await;
    fill(&amina, "#country", "DE").await;
    fill(&amina, "#serial", "WC9999").await;
    click(&amina, "#send-trace").await;
    let refused = text(&amina, "#problem").await;
    assert!(refused.contains("security token"), "{refused}");
    let sent = ke.json(&["trace", "list"]);
    assert_eq!(sent.as_array().unwrap().len(), 1, "{sent:#}");

    // A refused trace is said with the form's words, not the CLI's: no
    // "trace not sent:" twice, no flag names (a helper's trial).
    amina.goto(&format!("{ke_url}/traces/new")).await.unwrap();
    fill(&amina, "#maker", "Walther").await;
    fill(&amina, "#country", "DE").await;
    fill(&amina, "#serial", "WC2002").await;
    fill(&amina, "input[name=import]", "NG-2012").await;
    click(&amina, "#send-trace").await;
    let said = text(&amina, "#trace-error").await;
    assert!(
        said.contains("Import marks") && said.contains("NG:2012"),
        "{said}"
    );
    assert!(
        !said.contains("--") && !said.contains("trace not sent"),
        "{said}"
    );

    // The second pistol's NG record is confidential: NG's reviewer decides.
    amina.goto(&format!("{ke_url}/traces/new")).await.unwrap();
    fill(&amina, "#maker", "Walther").await;
    fill(&amina, "#country", "DE").await;
    fill(&amina, "#serial", "WC2002").await;
    fill(&amina, "input[name=import]", "NG:2012").await;
    click(&amina, "#send-trace").await;
    amina
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(
            r#"#holders li.holder-acknowledged[data-state="NG"]"#,
        ))
        .await
        .expect("NG acknowledges: a person decides there");
    assert!(amina.find(Locator::Css("#diversion")).await.is_err());
    let second_trace = amina.current_url().await.unwrap().to_string();

    // A wrong password at NG's console is refused and audited.
    let otp = officer(ng, "kofi.mensah", "reviewer");
    let kofi = driver.browser("kofi").await;
    kofi.goto(&format!("{ng_url}/login")).await.unwrap();
    fill(&kofi, "#name", "kofi.mensah").await;
    fill(&kofi, "#password", "not-the-password").await;
    click(&kofi, "#sign-in").await;
    let wrong = text(&kofi, "#login-error").await;
    assert_eq!(wrong, "Wrong name or password.");
    let audit = ng.json(&["audit", "show"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "sign_in_refused"
                && e["officer"] == "kofi.mensah"
                && e["rule"] == "wrong_password"),
        "{audit:#}"
    );

    // The reviewer approves; KE's open page updates by itself.
    first_sign_in(&kofi, &ng_url, "kofi.mensah", &otp).await;
    // Its sign-in audited once, for the session it has (written after the
    // session was made, so never for one that is not).
    let audit = ng.json(&["audit", "show"]);
    let signed_in = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "signed_in" && e["officer"] == "kofi.mensah")
        .count();
    assert_eq!(signed_in, 1, "{audit:#}");
    kofi.goto(&format!("{ng_url}/inbox")).await.unwrap();
    let item = kofi
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(r#"article.item[data-pending="true"]"#))
        .await
        .expect("the request waits in NG's inbox");
    let shown = item.text().await.unwrap();
    assert!(shown.contains("KE") && shown.contains("WC2002"), "{shown}");
    shot(&kofi, shots.path(), "05-inbox").await;
    ng_pages.push(kofi.source().await.unwrap());
    kofi.find(Locator::Css("article.item .approve-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    kofi.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("article.item p.decided"))
        .await
        .expect("the decision is shown");
    ng_pages.push(kofi.source().await.unwrap());
    let audit = ng.json(&["audit", "show"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "decision" && e["officer"] == "kofi.mensah"),
        "the decision names the reviewer: {audit:#}"
    );
    // NG's reports read their period alone: the year to today counts the
    // queries NG has received, a year before them counts nothing, and a
    // period that ends before it starts is refused.
    let counts = |page: &str| -> Vec<u64> {
        page.split(r#"class="chart-value">"#)
            .skip(1)
            .take(10)
            .map(|s| {
                let n: String = s
                    .split('<')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                n.parse().unwrap_or(0)
            })
            .collect()
    };
    kofi.goto(&format!("{ng_url}/reports")).await.unwrap();
    let year = counts(&kofi.source().await.unwrap());
    assert!(year.len() == 10 && year.iter().sum::<u64>() > 0, "{year:?}");
    kofi.goto(&format!("{ng_url}/reports?from=2000-01-01&to=2000-12-31"))
        .await
        .unwrap();
    let before = counts(&kofi.source().await.unwrap());
    assert_eq!(before, vec![0; 10]);
    let period = text(&kofi, "#period").await;
    assert!(period.contains("2000"), "{period}");
    let csv = kofi
        .find(Locator::Css("#csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        csv.contains("from=2000-01-01") && csv.contains("to=2000-12-31"),
        "{csv}"
    );
    kofi.goto(&format!("{ng_url}/reports?from=2026-05-01&to=2026-04-30"))
        .await
        .unwrap();
    let refused = text(&kofi, "body").await;
    assert!(refused.contains("period is two dates"), "{refused}");
    // No reload here: the page's script brings the answer in.
    amina
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#diversion"))
        .await
        .expect("KE's page shows NG's answer without a reload");
    assert_eq!(amina.current_url().await.unwrap().to_string(), second_trace);
    let status = text(&amina, "#trace-status").await;
    assert_eq!(status, "answered");
    shot(&amina, shots.path(), "06-answer-arrived").await;
    ke_pages.push(amina.source().await.unwrap());

    // A confidential (blind) trace from the form: the marking goes only to
    // the holders whose keyed filter holds the weapon; the page says which.
    amina.goto(&format!("{ke_url}/traces/new")).await.unwrap();
    fill(&amina, "#maker", "Walther").await;
    fill(&amina, "#country", "DE").await;
    fill(&amina, "#serial", "WC1001").await;
    fill(&amina, "input[name=import]", "NG:2012").await;
    if !amina
        .find(Locator::Css("#blind"))
        .await
        .unwrap()
        .is_selected()
        .await
        .unwrap()
    {
        click(&amina, "#blind").await;
    }
    click(&amina, "#send-trace").await;
    for state in ["DE", "NG"] {
        amina
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css(&format!(
                r#"#blind tr[data-state="{state}"][data-blind="hit"]"#
            )))
            .await
            .unwrap_or_else(|e| panic!("{state} hit blind: {e}"));
    }
    amina
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#diversion"))
        .await
        .expect("the blind trace finds the point of diversion too");
    shot(&amina, shots.path(), "06b-blind-trace").await;
    ke_pages.push(amina.source().await.unwrap());

    // Arabic, right to left, with translated labels and code lists.
    amina.goto(&first_trace).await.unwrap();
    amina
        .find(Locator::Css("#lang-select"))
        .await
        .unwrap()
        .select_by_value("ar")
        .await
        .unwrap();
    click(&amina, "form.lang button").await;
    amina
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(r#"html[dir="rtl"][lang="ar"]"#))
        .await
        .expect("the page turns right to left");
    let h2 = text(&amina, "#timeline").await;
    assert!(h2.contains("صُنع") && h2.contains("سُرق"), "{h2}");
    let diversion = text(&amina, "#diversion").await;
    assert!(diversion.contains("نقطة التحويل"), "{diversion}");
    let nav = text(&amina, "header nav").await;
    assert!(nav.contains("عمليات التعقّب"), "{nav}");
    shot(&amina, shots.path(), "07-arabic").await;
    ke_pages.push(amina.source().await.unwrap());
    // The choice stays with the officer.
    let officers = ke.json(&["officer", "list"]);
    assert_eq!(officers[0]["lang"], "ar", "{officers:#}");
    for p in ["/traces", "/alerts", "/registry", "/reports", "/federation"] {
        amina.goto(&format!("{ke_url}{p}")).await.unwrap();
        ke_pages.push(amina.source().await.unwrap());
    }

    amina.close().await.unwrap();
    kofi.close().await.unwrap();

    // Canaries: KE's console shows KE's case and no other State's national
    // text; NG's console shows NG's record to NG's reviewer only.
    let owners = |text: &str| -> Vec<String> {
        text.match_indices("-CANARY-")
            .filter_map(|(i, m)| text.get(i + m.len()..i + m.len() + 2).map(str::to_string))
            .collect()
    };
    let ke_text = ke_pages.join("\n");
    assert!(
        ke_text.contains("CASE-CANARY-KE"),
        "KE's own case is shown to KE"
    );
    for o in owners(&ke_text) {
        assert_eq!(o, "KE", "{o}'s national text in KE's console");
    }
    for o in owners(&ng_pages.join("\n")) {
        assert_eq!(o, "NG", "{o}'s national text in NG's console");
    }
    // The officers' names never leave their node.
    for n in &fed.nodes {
        n.signal("TERM");
    }
    for n in &fed.nodes {
        wait_for("the node to stop", WAIT, || {
            (!n.dir.join("api.addr").exists()).then_some(())
        });
    }
    for n in &fed.nodes {
        let everything = files_text(&n.dir);
        if n.state != "KE" {
            assert!(
                !everything.contains("amina.diallo"),
                "KE's officer named in {}",
                n.state
            );
            assert!(
                !everything.contains("CANARY-KE"),
                "KE's case in {}",
                n.state
            );
        }
        if n.state != "NG" {
            assert!(
                !everything.contains("kofi.mensah"),
                "NG's reviewer named in {}",
                n.state
            );
        }
    }
    for f in ["01-sign-in", "03-trace-answered", "05-inbox", "07-arabic"] {
        let png = std::fs::read(shots.path().join(format!("{f}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{f}: {} bytes",
            png.len()
        );
    }
}

/// Every file under `dir`, as (lossy) text.
fn files_text(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out += &String::from_utf8_lossy(&b);
            }
        }
    }
    out
}

/// One HTTP/1.1 exchange with the console, as a browser would make it.
struct Http {
    status: u16,
    /// Lower-cased, for header checks.
    head: String,
    /// As sent (cookie values are case-sensitive).
    raw_head: String,
    body: String,
}

fn http(addr: &str, method: &str, path: &str, cookie: &str, kind: &str, body: &[u8]) -> Http {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the console");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !cookie.is_empty() {
        req += &format!("Cookie: {cookie}\r\n");
    }
    if !kind.is_empty() {
        req += &format!("Content-Type: {kind}\r\n");
    }
    req += "\r\n";
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    Http {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        head: head.to_ascii_lowercase(),
        raw_head: head.to_string(),
        body: body.to_string(),
    }
}

impl Http {
    fn cookie(&self) -> String {
        self.raw_head
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .and_then(|c| c.split(';').next())
            .unwrap_or_else(|| panic!("no cookie: {}", self.head))
            .to_string()
    }

    fn csrf(&self) -> String {
        let i = self.body.find(r#"name="_csrf" value=""#).expect("a form");
        let rest = &self.body[i + r#"name="_csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    fn location(&self) -> String {
        self.raw_head
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .unwrap_or("")
            .to_string()
    }
}

fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const URLENCODED: &str = "application/x-www-form-urlencoded";

/// Without a browser: the console on a listener of its own, its headers and
/// cookie flags, CSRF on raw posts, the sign-in lock and its audit, account
/// management and a registry import from the console with its rejected
/// line, and a reset from the CLI ending the officer's session.
#[test]
fn the_console_guards_its_forms_sessions_and_accounts() {
    let fed = Federation::start(vec![NodeSpec {
        node_config: "console_listen = \"127.0.0.1:0\"\nconsole_secure_cookies = true",
        ..NodeSpec::member("KE", vec![])
    }]);
    let ke = fed.node("KE");
    let addr = wait_for("console.addr", WAIT, || {
        std::fs::read_to_string(ke.dir.join("console.addr")).ok()
    });
    let addr = addr.trim();
    // Not on the API's listener when it has its own.
    let (status, _) = common::http_get(&ke.dir, "/console/login", true);
    assert_eq!(status, 404);

    let login = http(addr, "GET", "/console/login", "", "", b"");
    assert_eq!(login.status, 200);
    for h in [
        "content-security-policy: default-src 'none'; script-src 'self'",
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "cache-control: no-store",
    ] {
        assert!(login.head.contains(h), "{h}: {}", login.head);
    }
    let set_cookie = login
        .head
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap()
        .to_string();
    for flag in ["httponly", "samesite=strict", "secure", "path=/console"] {
        assert!(set_cookie.contains(flag), "{set_cookie}");
    }
    assert!(!login.body.contains("<script>"), "no inline script");
    let (cookie, csrf) = (login.cookie(), login.csrf());

    // A post without the token, or with another, changes nothing.
    let otp = officer(ke, "chief", "admin");
    for body in [
        form(&[("name", "chief"), ("password", &otp)]),
        form(&[("_csrf", "forged"), ("name", "chief"), ("password", &otp)]),
    ] {
        let r = http(addr, "POST", "/console/login", &cookie, URLENCODED, &body);
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(!r.head.contains("set-cookie"));
    }
    // Nor without a session at all.
    let r = http(
        addr,
        "POST",
        "/console/login",
        "",
        URLENCODED,
        &form(&[("_csrf", &csrf)]),
    );
    assert_eq!(r.status, 403);

    // Five wrong passwords lock an account's name; each is audited, and
    // the lock once.
    officer(ke, "target", "officer");
    let attempt = |name: &str, password: &str| {
        http(
            addr,
            "POST",
            "/console/login",
            &cookie,
            URLENCODED,
            &form(&[("_csrf", &csrf), ("name", name), ("password", password)]),
        )
    };
    for _ in 0..5 {
        assert_eq!(attempt("target", "guess").status, 401);
    }
    for _ in 0..3 {
        assert_eq!(attempt("target", "guess").status, 429);
    }
    // Made-up names: the same answer, never a lock or a wait for real
    // accounts, and neither the name typed (perhaps a password) nor one entry
    // per attempt in the audit log or the log.
    for i in 0..60 {
        let r = attempt(&format!("MySecretPassw0rd{i}"), "x");
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let audit = ke.json(&["audit", "show"]);
    let refused = |f: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "sign_in_refused" && f(e))
            .cloned()
            .collect()
    };
    let target = refused(&|e| e["officer"] == "target");
    let rules: Vec<&str> = target.iter().map(|e| e["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        [
            "wrong_password",
            "wrong_password",
            "wrong_password",
            "wrong_password",
            "wrong_password",
            "locked"
        ],
        "{audit:#}"
    );
    let made_up = refused(&|e| e["officer"].is_null());
    assert!(
        (1..=3).contains(&made_up.len()),
        "made-up names tallied, not one entry each: {made_up:#?}"
    );
    let text = audit.to_string() + &ke.log();
    assert!(
        !text.contains("MySecretPassw0rd"),
        "a typed name was recorded"
    );

    // The admin signs in (new session id), changes the one-time password.
    let r = http(
        addr,
        "POST",
        "/console/login",
        &cookie,
        URLENCODED,
        &form(&[("_csrf", &csrf), ("name", "chief"), ("password", &otp)]),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/console/password");
    let cookie2 = r.cookie();
    assert_ne!(cookie2, cookie, "a new session id at sign-in");
    let page = http(addr, "GET", "/console/traces", &cookie2, "", b"");
    assert_eq!(
        page.location(),
        "/console/password",
        "the one-time password must go first"
    );
    let page = http(addr, "GET", "/console/password", &cookie2, "", b"");
    let csrf2 = page.csrf();
    assert_ne!(csrf2, csrf, "a new token at sign-in");
    // The forced change names who is signed in and can sign out, without
    // the menu whose pages it leads back from.
    assert!(
        page.body.contains("Signed in as")
            && page.body.contains("chief")
            && page.body.contains(r#"action="/console/logout""#)
            && !page.body.contains(r#"href="/console/traces""#)
            && !page.body.contains(r#"<a href="/console/password""#),
        "{}",
        page.body
    );
    let r = http(
        addr,
        "POST",
        "/console/password",
        &cookie2,
        URLENCODED,
        &form(&[
            ("_csrf", &csrf2),
            ("current", &otp),
            ("new", "short"),
            ("again", "short"),
        ]),
    );
    assert_eq!(r.status, 400);
    let r = http(
        addr,
        "POST",
        "/console/password",
        &cookie2,
        URLENCODED,
        &form(&[
            ("_csrf", &csrf2),
            ("current", &otp),
            ("new", "a long enough phrase"),
            ("again", "a long enough phrase"),
        ]),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    // The page it leads to says the change took; a word it does not know
    // shows nothing.
    assert_eq!(r.location(), "/console/traces?notice=password-changed");
    let page = http(addr, "GET", &r.location(), &cookie2, "", b"");
    assert!(
        page.body
            .contains(r#"<p class="ok" role="status" id="notice">Your password was changed.</p>"#),
        "{}",
        page.body
    );
    let page = http(
        addr,
        "GET",
        "/console/traces?notice=traces-title",
        &cookie2,
        "",
        b"",
    );
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(r#"id="notice""#), "{}", page.body);

    // Accounts from the console: the one-time password shown once.
    let r = http(
        addr,
        "POST",
        "/console/officers",
        &cookie2,
        URLENCODED,
        &form(&[
            ("_csrf", &csrf2),
            ("name", "amina.diallo"),
            ("role", "officer"),
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#"id="one-time-password""#), "{}", r.body);
    let listed = ke.json(&["officer", "list"]);
    assert!(listed.to_string().contains("amina.diallo"), "{listed:#}");
    // Added again: said with the console's own button, not the CLI's
    // command or the API's endpoint.
    let r = http(
        addr,
        "POST",
        "/console/officers",
        &cookie2,
        URLENCODED,
        &form(&[
            ("_csrf", &csrf2),
            ("name", "amina.diallo"),
            ("role", "officer"),
        ]),
    );
    assert!(
        r.body.contains("Account amina.diallo already exists")
            && !r.body.contains("tracenet officer")
            && !r.body.contains("/v1/officers"),
        "{}",
        r.body
    );
    // The admin's own name: its row has no "New password" button, so the
    // page points to the link every page has beside the officer's name (an
    // officer had no way to change a password once chosen).
    let r = http(
        addr,
        "POST",
        "/console/officers",
        &cookie2,
        URLENCODED,
        &form(&[("_csrf", &csrf2), ("name", "chief"), ("role", "admin")]),
    );
    assert!(
        r.body.contains("chief is your own account")
            && !r.body.contains("button gives it a new password")
            && r.body.contains(r#"<a href="/console/password""#),
        "{}",
        r.body
    );
    // Reached by that link once chosen, the page says what it does now.
    let page = http(addr, "GET", "/console/password", &cookie2, "", b"");
    assert!(
        page.body.contains("<h1>Change password</h1>") && !page.body.contains("one-time password"),
        "{}",
        page.body
    );
    let r = http(
        addr,
        "POST",
        "/console/officers",
        &cookie2,
        URLENCODED,
        &form(&[
            ("_csrf", &csrf2),
            ("name", "bad name!"),
            ("role", "officer"),
        ]),
    );
    assert_eq!(r.status, 400);

    // A registry import from the console: two records, one rejected line.
    let file = format!(
        "{}\n{{\"id\":\"KE-2\",\"marking\":{{\"manufacturer\":\"Norinco\",\"country\":\"CN\",\"serial\":\"\"}}}}\n{}\n",
        record(
            "KE-1",
            "Norinco",
            "CN",
            "56001",
            &[],
            r#"{"date":"2015-01-01","kind":"manufactured","holder":"manufacturer"}"#
        ),
        record(
            "KE-3",
            "Norinco",
            "CN",
            "56003",
            &[],
            r#"{"date":"2015-01-01","kind":"manufactured","holder":"manufacturer"}"#
        ),
    );
    let boundary = "tracenetboundary";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ke-records.jsonl\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend_from_slice(file.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let kind = format!("multipart/form-data; boundary={boundary}");
    let r = http(
        addr,
        "POST",
        "/console/registry/import",
        &cookie2,
        &kind,
        &body,
    );
    assert_eq!(r.status, 403, "an upload without its token");
    // Uploads `bytes` as `file_name` through the form; the import's page
    // once it has finished.
    let upload = |file_name: &str, bytes: &[u8], within: Duration| -> String {
        let mut body = Vec::new();
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let r = http(
            addr,
            "POST",
            &format!("/console/registry/import?_csrf={csrf2}"),
            &cookie2,
            &kind,
            &body,
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let job = r.location();
        wait_for(&format!("the import of {file_name}"), within, || {
            let p = http(addr, "GET", &job, &cookie2, "", b"");
            p.body.contains(r#"id="import-counts""#).then_some(p.body)
        })
    };
    let done = upload("ke-records.jsonl", file.as_bytes(), WAIT);
    assert!(
        done.contains("2 added") && done.contains("1 rejected"),
        "{done}"
    );
    assert!(
        done.contains(r#"id="rejected""#) && done.contains("<td>2</td>"),
        "the rejected line is listed: {done}"
    );
    let stats = ke.json(&["registry", "stats"]);
    assert_eq!(stats["records"], 2, "{stats:#}");
    assert!(
        std::fs::read_dir(ke.dir.join("tmp"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "the upload is deleted after the import"
    );
    // A tab-separated file named .tsv is read as CSV, its format told by
    // its name as the form says (it was "choose the format").
    let tsv = "id\tmanufacturer\tcountry\tserial\tcategory\nKE-4\tNorinco\tCN\t56004\tpistol\n";
    let done = upload("ke-records.tsv", tsv.as_bytes(), WAIT);
    assert!(done.contains("1 added"), "{done}");
    assert_eq!(ke.json(&["registry", "stats"])["records"], 3);

    // A trace from the form: a field at fault is named by its label, and
    // a maker of another country is told to correct the country; the
    // node's own record of the weapon is shown, as marked, in digits.
    let trace_form = |maker: &str, country: &str, serial: &str| {
        http(
            addr,
            "POST",
            "/console/traces",
            &cookie2,
            URLENCODED,
            &form(&[
                ("_csrf", &csrf2),
                ("maker", maker),
                ("country", country),
                ("serial", serial),
                ("category", "pistol"),
                ("ground", "seized_in_crime"),
                ("use", "criminal_investigation"),
            ]),
        )
    };
    // The form's error line alone (the page's styles have `--` of their own).
    let said = |r: &Http| -> String {
        let at = r.body.find(r#"id="trace-error""#).expect("an error line");
        let rest = &r.body[at..];
        rest[..rest.find("</").unwrap_or(rest.len())].to_string()
    };
    let r = trace_form("Norinco", "C", "56001");
    assert_eq!(r.status, 400, "{}", r.body);
    let country = said(&r);
    assert!(country.contains("Country of manufacture: "), "{country}");
    let r = trace_form("Walther", "CN", "56001");
    assert_eq!(r.status, 400, "{}", r.body);
    let maker = said(&r);
    assert!(
        maker.contains("Manufacturer: ") && maker.contains("Correct the country of manufacture"),
        "{maker}"
    );
    for line in [country, maker] {
        assert!(
            !line.contains("--") && !line.contains("force"),
            "neither a flag nor a JSON field: {line}"
        );
    }
    let r = trace_form("Norinco", "CN", "56001");
    assert_eq!(r.status, 303, "{}", r.body);
    let page = http(addr, "GET", &r.location(), &cookie2, "", b"");
    assert!(
        page.body.contains(
            r#"<p id="own-registry">our registry: 1 record, 1 event (Norinco CN 56001)</p>"#
        ),
        "{}",
        page.body
    );

    // An upload over axum's default 2 MiB body limit is taken (the
    // console's own bound is 2 GiB).
    let big: String = (0..12_000)
        .map(|i| {
            record(
                &format!("KE-B{i:05}"),
                "Norinco",
                "CN",
                &format!("B{i:06}"),
                &[],
                r#"{"date":"2015-01-01","kind":"manufactured","holder":"manufacturer","note":"a note long enough to make this file larger than two mebibytes in all"}"#,
            ) + "\n"
        })
        .collect();
    assert!(big.len() > 2 << 20, "{}", big.len());
    let done = upload("big.jsonl", big.as_bytes(), Duration::from_secs(120));
    assert!(done.contains("12,000 added"), "{done}");

    // The registry page's title is its title (the admin's upload form, with
    // its token, is in the page, not in the tab).
    let page = http(addr, "GET", "/console/registry", &cookie2, "", b"");
    // The count says what it counts, in the language's plural (Arabic read
    // "٤ قيد", a singular, for four records).
    assert!(
        page.body.contains("This registry holds 12,"),
        "{}",
        page.body
    );
    assert!(page.body.contains(" records."), "{}", page.body);
    let title = &page.body[page.body.find("<title>").unwrap()..page.body.find("</title>").unwrap()];
    assert!(
        !title.contains("form") && !title.contains(&csrf2),
        "{title}"
    );
    // The address the node prints opens the console.
    let r = http(addr, "GET", "/console/", &cookie2, "", b"");
    assert_eq!((r.status, r.location().as_str()), (303, "/console"));
    // The language form goes back only to this console's pages.
    for back in [
        "/console/a%0Ab",
        "//evil.example/x",
        "https://evil.example/",
    ] {
        let r = http(
            addr,
            "POST",
            "/console/lang",
            &cookie2,
            URLENCODED,
            &form(&[
                ("_csrf", &csrf2),
                ("lang", "fr"),
                ("back", &urldecode_once(back)),
            ]),
        );
        assert_eq!(r.status, 303, "{back}: {}", r.body);
        assert_eq!(r.location(), "/console/traces", "{back}");
    }
    // A flood of anonymous page loads signs nobody out.
    for _ in 0..(1_024 + 100) {
        http(addr, "GET", "/console/login", "", "", b"");
    }
    let r = http(addr, "GET", "/console/traces", &cookie2, "", b"");
    assert_eq!(r.status, 200, "still signed in: {}", r.location());

    // Guessing the current password on the password page is a sign-in
    // attempt: audited, and five wrong ones end the session.
    for i in 0..5 {
        let r = http(
            addr,
            "POST",
            "/console/password",
            &cookie2,
            URLENCODED,
            &form(&[
                ("_csrf", &csrf2),
                ("current", &format!("guess{i}")),
                ("new", "another long phrase"),
                ("again", "another long phrase"),
            ]),
        );
        assert!(
            r.status == 400 || r.location() == "/console/login",
            "{}",
            r.status
        );
    }
    let r = http(addr, "GET", "/console/traces", &cookie2, "", b"");
    assert_eq!(r.location(), "/console/login", "the session ended");
    let audit = ke.json(&["audit", "show"]);
    let guesses = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["officer"] == "chief" && e["outcome"] == "password change")
        .count();
    assert_eq!(guesses, 6, "five wrong passwords and the lock: {audit:#}");

    // A reset from the CLI ends an admin's session at its next request.
    let otp = ke.json(&["officer", "reset", "target"])["password"]
        .as_str()
        .unwrap()
        .to_string();
    let _ = otp;
    ke.cli(&["officer", "add", "deputy", "--role", "admin"]);
    let login = http(addr, "GET", "/console/login", "", "", b"");
    let (c3, t3) = (login.cookie(), login.csrf());
    let deputy_otp = ke.json(&["officer", "reset", "deputy"])["password"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http(
        addr,
        "POST",
        "/console/login",
        &c3,
        URLENCODED,
        &form(&[
            ("_csrf", &t3),
            ("name", "deputy"),
            ("password", &deputy_otp),
        ]),
    );
    assert_eq!(r.location(), "/console/password");
    let c3 = r.cookie();
    assert_eq!(
        http(addr, "GET", "/console/password", &c3, "", b"").status,
        200
    );
    ke.cli(&["officer", "reset", "deputy"]);
    let r = http(addr, "GET", "/console/password", &c3, "", b"");
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/console/login");
}

/// `%0A` in a test's table, as a form would carry the character.
fn urldecode_once(s: &str) -> String {
    s.replace("%0A", "\n")
}

/// A blind trace whose holders KE and FR could not be asked blind (the
/// roster lists no OPRF key for them): the trace page offers each row its
/// own button, and sending to KE alone leaves FR without the marking.
#[test]
fn an_officer_sends_the_marking_in_the_clear_to_one_state_only() {
    const SERIAL: &str = "WX739184";
    let walther = |id: &str, serial: &str| {
        record(
            id,
            "Walther",
            "DE",
            serial,
            &[],
            r#"{"date":"2011-05-03","kind":"manufactured","holder":"manufacturer"},{"date":"2019-07-30","kind":"stolen","holder":"state_police"}"#,
        )
    };
    let fed = Federation::start(vec![
        NodeSpec {
            node_config: "console_listen = \"127.0.0.1:0\"",
            ..NodeSpec::member("NG", vec![])
        },
        NodeSpec::member("DE", vec![walther("DE-1", SERIAL)]),
        NodeSpec {
            oprf_key_listed: false,
            ..NodeSpec::member("KE", vec![walther("KE-1", "WX900100")])
        },
        NodeSpec {
            oprf_key_listed: false,
            ..NodeSpec::member("FR", vec![walther("FR-1", "WX500600")])
        },
    ]);
    let ng = fed.node("NG");
    fed.wait_subscribed(
        "NG",
        "tracenet/1/prefix/DE/CARLWALTHER",
        &["DE", "KE", "FR"],
    );
    let sent = trace_walther(ng, SERIAL, &["--blind"]);
    let id = sent["id"].as_str().unwrap().to_string();
    let outcome = |t: &Value, s: &str| -> Value {
        let peer = &fed.node(s).peer_id;
        t["blind"]["holders"]
            .as_array()
            .and_then(|h| h.iter().find(|h| h["peer"] == peer.as_str()))
            .cloned()
            .unwrap_or_else(|| panic!("{s} not among the blind holders: {t:#}"))
    };
    wait_for("KE and FR left to the officer", WAIT, || {
        let t = ng.json(&["trace", "show", &id]);
        (outcome(&t, "KE")["outcome"] == "no_filter"
            && outcome(&t, "FR")["outcome"] == "no_filter"
            && outcome(&t, "DE")["outcome"] == "hit")
            .then_some(())
    });

    // An officer signs in and changes the one-time password.
    let addr = wait_for("console.addr", WAIT, || {
        std::fs::read_to_string(ng.dir.join("console.addr")).ok()
    });
    let addr = addr.trim();
    let otp = officer(ng, "amina", "officer");
    let login = http(addr, "GET", "/console/login", "", "", b"");
    let r = http(
        addr,
        "POST",
        "/console/login",
        &login.cookie(),
        URLENCODED,
        &form(&[
            ("_csrf", &login.csrf()),
            ("name", "amina"),
            ("password", &otp),
        ]),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = r.cookie();
    let page = http(addr, "GET", "/console/password", &cookie, "", b"");
    let r = http(
        addr,
        "POST",
        "/console/password",
        &cookie,
        URLENCODED,
        &form(&[
            ("_csrf", &page.csrf()),
            ("current", &otp),
            ("new", "a long enough phrase"),
            ("again", "a long enough phrase"),
        ]),
    );
    assert_eq!(r.status, 303, "{}", r.body);

    // The trace page: one button per State left to the officer, none for DE.
    let page = http(
        addr,
        "GET",
        &format!("/console/traces/{id}"),
        &cookie,
        "",
        b"",
    );
    assert_eq!(page.status, 200);
    for s in ["KE", "FR"] {
        assert!(
            page.body.contains(&format!(
                r#"<input type="hidden" name="state" value="{s}">"#
            )),
            "{s}'s row offers its own button: {}",
            page.body
        );
    }
    assert!(!page.body.contains(r#"name="state" value="DE""#));
    let r = http(
        addr,
        "POST",
        &format!("/console/traces/{id}/send-clear"),
        &cookie,
        URLENCODED,
        &form(&[("_csrf", &page.csrf()), ("state", "KE")]),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let t = ng.json(&["trace", "show", &id]);
    assert_eq!(outcome(&t, "KE")["received_marking"], true, "{t:#}");
    assert_eq!(outcome(&t, "FR")["received_marking"], false, "{t:#}");
}
