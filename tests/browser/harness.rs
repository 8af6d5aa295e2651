use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use switchboard_tests::TestApp;
use thirtyfour::prelude::*;

pub type Res = Result<(), Box<dyn std::error::Error>>;

/// Browser tests run when asked (scripts/test.sh does); a plain `cargo test` skips them with
/// a note, since it cannot know that the portal was built.
pub fn browser_tests_enabled() -> bool {
    let on = std::env::var("SWITCHBOARD_BROWSER_TESTS").as_deref() == Ok("1");
    if !on {
        eprintln!(
            "browser tests skipped: run scripts/test.sh (it builds the portal and installs Chromium)"
        );
    }
    on
}

pub fn portal_dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../portal/dist")
}

pub async fn portal_app() -> TestApp {
    let dist = portal_dist();
    assert!(
        dist.join("index.html").is_file(),
        "the portal is not built: run scripts/build-portal.sh"
    );
    TestApp::builder().portal_dir(dist).spawn().await
}

const TIMEOUT: Duration = Duration::from_secs(15);

pub struct Browser {
    pub driver: WebDriver,
    chromedriver: Child,
    name: &'static str,
    /// Chromium's profile directory, removed when the test ends.
    profile: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    pub async fn start(name: &'static str) -> Browser {
        Browser::start_with(name, &[]).await
    }

    /// A browser with extra Chromium flags.
    pub async fn start_with(name: &'static str, extra: &[&str]) -> Browser {
        let port = free_port();
        let chromedriver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver (scripts/setup.sh --browser installs it)");
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary("/usr/bin/chromium").unwrap();
        let profile =
            std::env::temp_dir().join(format!("switchboard-chromium-{}", uuid::Uuid::now_v7()));
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
            &format!("--user-data-dir={}", profile.display()),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            caps.add_arg(arg).unwrap();
        }
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        switchboard_tests::tls();
        let driver = loop {
            match WebDriver::new(url.clone(), caps.clone()).await {
                Ok(d) => break d,
                Err(e) if started.elapsed() < TIMEOUT => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver did not start: {e}"),
            }
        };
        Browser {
            driver,
            chromedriver,
            name,
            profile,
        }
    }

    /// Runs the steps; on failure (error or panic) saves a screenshot, then fails the test.
    pub async fn run<F>(mut self, steps: F)
    where
        F: AsyncFnOnce(&Browser) -> Res,
    {
        let outcome = std::panic::AssertUnwindSafe(steps(&self))
            .catch_unwind()
            .await;
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(panic) => Some(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into()),
            ),
        };
        if let Some(reason) = &failure {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts");
            let _ = std::fs::create_dir_all(&dir);
            let shot = dir.join(format!("{}.png", self.name));
            let _ = self.driver.screenshot(&shot).await;
            // The DOM too: what a screenshot cannot show (off-screen rows, attributes).
            if let Ok(source) = self.driver.source().await {
                let _ = std::fs::write(dir.join(format!("{}.html", self.name)), source);
            }
            // And what the page logged (a panic of the portal, with its message).
            if let Ok(logged) = self
                .driver
                .execute("return (window.__errors || []).join('\\n');", vec![])
                .await
            {
                eprintln!("page errors: {}", logged.json());
            }
            eprintln!(
                "browser test failed: {reason}\nscreenshot: {}",
                shot.display()
            );
        }
        let _ = self.driver.clone().quit().await;
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
        if let Some(reason) = failure {
            panic!("{reason}");
        }
    }

    /// Opens `url`, and keeps what the page logs as errors (a panic of the portal) for the
    /// failure report.
    pub async fn goto(&self, url: &str) -> WebDriverResult<()> {
        self.driver.goto(url).await?;
        self.driver
            .execute(
                "window.__errors = []; const original = console.error; \
                 console.error = (...args) => { window.__errors.push(args.join(' ')); original(...args); };",
                vec![],
            )
            .await?;
        Ok(())
    }

    /// A parameter of the current address's query string.
    pub async fn current_url_query(&self, key: &str) -> WebDriverResult<String> {
        let url = self.driver.current_url().await?;
        Ok(url
            .query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default())
    }

    pub async fn current_path(&self) -> WebDriverResult<String> {
        Ok(self.driver.current_url().await?.path().to_owned())
    }

    pub async fn wait_for(&self, by: By) -> WebDriverResult<WebElement> {
        self.driver
            .query(by)
            .wait(TIMEOUT, Duration::from_millis(50))
            .first()
            .await
    }

    pub async fn wait_gone(&self, by: By) -> Res {
        let started = Instant::now();
        while self.driver.find(by.clone()).await.is_ok() {
            if started.elapsed() > TIMEOUT {
                return Err(format!("{by:?} did not go away").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Waits until the element's text contains `expected`; returns the text.
    pub async fn wait_text(
        &self,
        by: By,
        expected: &str,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < TIMEOUT {
            if let Ok(el) = self.driver.find(by.clone()).await
                && let Ok(text) = el.text().await
            {
                if text.contains(expected) {
                    return Ok(text);
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("{by:?} never contained {expected:?} (last text: {last:?})").into())
    }

    pub async fn wait_until<F, Fut>(&self, mut check: F) -> Res
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let started = Instant::now();
        while !check().await {
            if started.elapsed() > TIMEOUT {
                return Err("condition not reached in time".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    pub async fn click(&self, by: By) -> WebDriverResult<()> {
        self.wait_for(by).await?.click().await
    }

    pub async fn type_into(&self, by: By, text: &str) -> WebDriverResult<()> {
        let el = self.wait_for(by).await?;
        el.clear().await?;
        el.send_keys(text).await
    }

    /// Waits for the confirmation dialog, checks that its title or text says `expected`, and
    /// presses its confirming button (or Cancel).
    pub async fn answer_dialog(&self, expected: &str, confirm: bool) -> Res {
        let question = self
            .wait_text(By::Css("#confirm-dialog[open]"), expected)
            .await?;
        assert!(question.contains(expected), "{question}");
        let button = if confirm {
            "dialog-confirm"
        } else {
            "dialog-cancel"
        };
        self.click(By::Id(button)).await?;
        self.wait_gone(By::Css("#confirm-dialog[open]")).await
    }

    pub async fn login(&self, email: &str, password: &str) -> WebDriverResult<()> {
        self.type_into(By::Id("email"), email).await?;
        self.type_into(By::Id("password"), password).await?;
        self.click(By::Id("login-submit")).await
    }

    /// Runs axe-core (tools/axe, WCAG 2.0/2.1 A and AA rules) on the page as it is now and
    /// fails on any serious or critical violation, naming the rule and the elements.
    pub async fn check_accessibility(&self, screen: &str) -> Res {
        static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let axe = AXE.get_or_init(|| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../tools/axe/node_modules/axe-core/axe.min.js");
            std::fs::read_to_string(&path)
                .expect("axe-core is not installed: run scripts/setup.sh --browser")
        });
        self.driver.execute(axe.as_str(), vec![]).await?;
        let result = self
            .driver
            .execute_async(
                "const done = arguments[arguments.length - 1];\n\
                 axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })\n\
                   .then(r => done(r.violations\n\
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')\n\
                     .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))\n\
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await?;
        let violations: Vec<String> = serde_json::from_value(result.json().clone())?;
        if violations.is_empty() {
            Ok(())
        } else {
            Err(format!("{screen}: {}", violations.join("; ")).into())
        }
    }
}
