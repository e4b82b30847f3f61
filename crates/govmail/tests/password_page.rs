//! The password change page (KT-7.1) end to end: a real TLS listener from `serve_tls` on
//! 127.0.0.1, a SQLite store in a temporary directory, and `curl` as the browser.

#[allow(dead_code)]
#[path = "../src/password_page.rs"]
mod password_page;
#[allow(dead_code)]
#[path = "../src/text.rs"]
mod text;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use password_page::{router, serve_tls, PasswordState};
use storage::{LoginOutcome, NewPerson, Store, StoreOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DOMAIN: &str = "kontum.gov.vn";
const USER: &str = "nvan.stttt@kontum.gov.vn";
const INITIAL: &str = "Khoi-tao-2024xyz";
const MIN_LENGTH: usize = 10;

fn tls_config() -> Arc<rustls::ServerConfig> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(pair.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::try_from(pair.signing_key.serialize_der()).unwrap();
    Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    )
}

struct Page {
    store: Store,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The hidden field's token.
    fn token(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a csrf field") + marker.len();
        let end = start + self.body[start..].find('"').unwrap();
        self.body[start..end].to_string()
    }
}

async fn start(max_failures: u32) -> Page {
    start_throttled(policy::limits::ThrottleConfig {
        max_failures,
        lock: Duration::from_secs(60),
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        ..Default::default()
    })
    .await
}

async fn start_throttled(throttle: policy::limits::ThrottleConfig) -> Page {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions::new(
        format!("sqlite://{}", dir.path().join("t.db").display()),
        dir.path().to_path_buf(),
    ))
    .await
    .unwrap();
    store.add_domain(DOMAIN, "kontum").await.unwrap();
    store
        .add_person(&NewPerson {
            full_name: "Nguyễn Văn An".into(),
            address: USER.into(),
            unit_abbrev: None,
            position: String::new(),
            phone: String::new(),
            password_phc: policy::password::hash(INITIAL).unwrap(),
            must_change_password: true,
            quota_bytes: 0,
        })
        .await
        .unwrap();
    let state = PasswordState {
        store: store.clone(),
        throttle: Arc::new(policy::limits::AuthThrottle::new(throttle)),
        min_length: MIN_LENGTH,
        history: 5,
        hostname: "mail.kontum.gov.vn".into(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(serve_tls(listener, tls_config(), router(state), rx));
    Page {
        store,
        dir,
        addr,
        shutdown,
        task,
    }
}

impl Page {
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/password", self.addr.port())
    }

    fn jar(&self, name: &str) -> String {
        let path: PathBuf = self.dir.path().join(format!("{name}.jar"));
        path.display().to_string()
    }

    async fn curl(&self, args: &[String]) -> Reply {
        let output = tokio::process::Command::new("curl")
            .args(["-sk", "-i", "--max-time", "30"])
            .args(args)
            .output()
            .await
            .expect("curl is installed");
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let (headers, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP answer (curl {args:?}): {text:?} {output:?}"));
        let status = headers
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {headers:?}"));
        Reply {
            status,
            headers: headers.to_string(),
            body: body.to_string(),
        }
    }

    /// GET with a cookie jar; returns the page and its token.
    async fn get(&self, jar: &str) -> (Reply, String) {
        let reply = self
            .curl(&["-c".into(), jar.into(), "-b".into(), jar.into(), self.url()])
            .await;
        let token = reply.token();
        (reply, token)
    }

    /// POST the form; `jar` None sends no cookie.
    async fn post(&self, jar: Option<&str>, fields: &[(&str, &str)]) -> Reply {
        let mut args: Vec<String> = Vec::new();
        if let Some(jar) = jar {
            args.extend(["-c".into(), jar.into(), "-b".into(), jar.into()]);
        }
        for (name, value) in fields {
            args.push("--data-urlencode".into());
            args.push(format!("{name}={value}"));
        }
        args.push(self.url());
        self.curl(&args).await
    }

    /// A full change attempt from a fresh page load.
    async fn change(
        &self,
        jar: &str,
        address: &str,
        current: &str,
        new: &str,
        again: &str,
    ) -> Reply {
        let (_, token) = self.get(jar).await;
        self.post(
            Some(jar),
            &[
                ("csrf", &token),
                ("address", address),
                ("current", current),
                ("new", new),
                ("again", again),
            ],
        )
        .await
    }

    /// A full change attempt from the client address `from` (curl --interface; every
    /// 127.x.y.z is loopback on Linux), the new password typed twice alike.
    async fn change_from(
        &self,
        from: &str,
        jar: &str,
        address: &str,
        current: &str,
        new: &str,
    ) -> Reply {
        let mut args: Vec<String> = vec![
            "--interface".into(),
            from.into(),
            "-c".into(),
            jar.into(),
            "-b".into(),
            jar.into(),
        ];
        let mut get = args.clone();
        get.push(self.url());
        let token = self.curl(&get).await.token();
        for (name, value) in [
            ("csrf", token.as_str()),
            ("address", address),
            ("current", current),
            ("new", new),
            ("again", new),
        ] {
            args.push("--data-urlencode".into());
            args.push(format!("{name}={value}"));
        }
        args.push(self.url());
        self.curl(&args).await
    }

    async fn add_user(&self, address: &str, password: &str) {
        self.store
            .add_person(&NewPerson {
                full_name: "Trần Thị Bình".into(),
                address: address.into(),
                unit_abbrev: None,
                position: String::new(),
                phone: String::new(),
                password_phc: policy::password::hash(password).unwrap(),
                must_change_password: false,
                quota_bytes: 0,
            })
            .await
            .unwrap();
    }

    async fn login_as(&self, address: &str, password: &str) -> LoginOutcome {
        self.store
            .check_login(
                address,
                password,
                policy::password::verify,
                policy::password::DUMMY_PHC,
            )
            .await
            .unwrap()
    }

    async fn login(&self, password: &str) -> LoginOutcome {
        self.store
            .check_login(
                USER,
                password,
                policy::password::verify,
                policy::password::DUMMY_PHC,
            )
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_renders_the_form_with_a_token_and_safe_headers() {
    let page = start(5).await;
    let jar = page.jar("a");
    let (reply, token) = page.get(&jar).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply
        .body
        .contains("<title>Đổi mật khẩu / Change password</title>"));
    // Vietnamese first, English underneath.
    let vi = reply.body.find("Mật khẩu hiện tại").unwrap();
    let en = reply.body.find("Current password").unwrap();
    assert!(vi < en);
    for field in ["address", "current", "new", "again"] {
        assert!(reply.body.contains(&format!("name=\"{field}\"")), "{field}");
    }
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let cookie = reply.header("set-cookie").unwrap();
    assert_eq!(
        cookie,
        format!("csrf={token}; HttpOnly; Secure; SameSite=Strict; Path=/password")
    );
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(reply.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        reply.header("content-security-policy").as_deref(),
        Some("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    );
    assert_eq!(
        reply.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    // A second load keeps the same token (two tabs both work).
    let (_, again) = page.get(&jar).await;
    assert_eq!(again, token);
    // Another browser gets another token.
    let (_, other) = page.get(&page.jar("b")).await;
    assert_ne!(other, token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_without_matching_csrf_is_forbidden() {
    let page = start(5).await;
    let jar = page.jar("a");
    let (_, token) = page.get(&jar).await;
    fn fields(csrf: &str) -> Vec<(&str, &str)> {
        let good = "Mat-khau-moi-2024";
        vec![
            ("csrf", csrf),
            ("address", USER),
            ("current", INITIAL),
            ("new", good),
            ("again", good),
        ]
    }
    // The field without the cookie.
    let reply = page.post(None, &fields(&token)).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.contains("The form has expired or is invalid"));
    // The cookie without the field.
    let reply = page.post(Some(&jar), &fields("")[1..]).await;
    assert_eq!(reply.status, 403);
    // Cookie and field differ.
    let reply = page
        .post(
            Some(&jar),
            &fields("0000000000000000000000000000000000000000000000000000000000000000"),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(page.login(INITIAL).await, LoginOutcome::MustChangePassword);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_hold_and_a_correct_change_works() {
    let page = start(5).await;
    let jar = page.jar("a");
    let p1 = "Mat-khau-moi-2024";
    let p2 = "Mật khẩu thứ hai 2025";
    let wrong_login = "The address or the current password is wrong.";

    // Wrong current password, and an unknown address: the same answer.
    let reply = page.change(&jar, USER, "not-the-password", p1, p1).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains(wrong_login), "{}", reply.body);
    assert!(reply
        .body
        .contains("Địa chỉ thư hoặc mật khẩu hiện tại không đúng."));
    let unknown = page
        .change(&jar, "nobody@kontum.gov.vn", INITIAL, p1, p1)
        .await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.body.contains(wrong_login));
    assert_eq!(page.login(INITIAL).await, LoginOutcome::MustChangePassword);

    // Echoed input is escaped.
    let reply = page
        .change(&jar, "<script>alert(1)</script>@x", INITIAL, p1, p1)
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply
        .body
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;@x"));
    assert!(!reply.body.contains("<script>"));

    let reply = page.change(&jar, USER, INITIAL, "short1", "short1").await;
    assert_eq!(reply.status, 400);
    assert!(reply
        .body
        .contains(&format!("at least {MIN_LENGTH} characters long")));
    assert!(reply.body.contains(&format!("ít nhất {MIN_LENGTH} ký tự")));

    let reply = page
        .change(&jar, USER, INITIAL, p1, "Mat-khau-moi-2025")
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("The two new passwords do not match."));

    let reply = page.change(&jar, USER, INITIAL, INITIAL, INITIAL).await;
    assert_eq!(reply.status, 400);
    assert!(reply
        .body
        .contains("The new password must be different from the current one."));
    // The address typed is kept, the passwords are not.
    assert!(reply.body.contains(&format!("value=\"{USER}\"")));
    assert!(!reply.body.contains(INITIAL));
    assert_eq!(page.login(INITIAL).await, LoginOutcome::MustChangePassword);

    // The forced change (the account is still on its initial password).
    let reply = page.change(&jar, USER, INITIAL, p1, p1).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("Đã đổi mật khẩu"));
    assert!(reply.body.contains("Password changed"));
    assert!(
        matches!(page.login(p1).await, LoginOutcome::Ok { ref address, .. } if address == USER)
    );
    assert_eq!(page.login(INITIAL).await, LoginOutcome::Refused);
    let events = page.store.events("user.password-change", 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, USER);
    assert_eq!(events[0].target, USER);
    assert_eq!(events[0].detail["was_initial"], true);

    // Back to a previous password: refused.
    let reply = page.change(&jar, USER, p1, INITIAL, INITIAL).await;
    assert_eq!(reply.status, 400);
    assert!(reply
        .body
        .contains("You may not reuse a recently used password."));

    // A later self-service change, then neither older password comes back.
    let reply = page.change(&jar, USER, p1, p2, p2).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(matches!(page.login(p2).await, LoginOutcome::Ok { .. }));
    assert_eq!(page.login(p1).await, LoginOutcome::Refused);
    for old in [p1, INITIAL] {
        let reply = page.change(&jar, USER, p2, old, old).await;
        assert_eq!(reply.status, 400, "{old}");
        assert!(reply.body.contains("recently used password"));
    }
    assert!(matches!(page.login(p2).await, LoginOutcome::Ok { .. }));
    assert_eq!(
        page.store
            .events("user.password-change", 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_attempts_are_throttled() {
    let page = start(3).await;
    let jar = page.jar("a");
    let p1 = "Mat-khau-moi-2024";
    for attempt in 1..=2 {
        let reply = page.change(&jar, USER, "wrong-password", p1, p1).await;
        assert_eq!(reply.status, 400, "attempt {attempt}");
    }
    let reply = page.change(&jar, USER, "wrong-password", p1, p1).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(reply.body.contains("Có quá nhiều lần thử sai"));
    assert!(reply.body.contains("Too many failed attempts"));
    assert!(reply.header("retry-after").is_some());
    // Locked: even the right password is not checked.
    let reply = page.change(&jar, USER, INITIAL, p1, p1).await;
    assert_eq!(reply.status, 429);
    assert_eq!(page.login(INITIAL).await, LoginOutcome::MustChangePassword);
    assert_eq!(page.login(p1).await, LoginOutcome::Refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_not_served_and_shutdown_stops_the_listener() {
    let page = start(5).await;
    // curl over plain HTTP to the TLS port gets no HTTP answer.
    let output = tokio::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "15",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("http://127.0.0.1:{}/password", page.addr.port()))
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "000");
    assert!(!output.status.success());
    // The same with a raw socket: whatever comes back is not HTTP.
    let mut tcp = tokio::net::TcpStream::connect(page.addr).await.unwrap();
    tcp.write_all(b"GET /password HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut answer)).await;
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    // The listener survived and still serves over TLS.
    let (reply, _) = page.get(&page.jar("a")).await;
    assert_eq!(reply.status, 200);

    page.shutdown.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(15), page.task)
        .await
        .expect("serve_tls returns after shutdown")
        .unwrap();
    assert!(tokio::net::TcpStream::connect(page.addr).await.is_err());
}

// ----- throttling from several client addresses (127/8 is all loopback) -----

const HERE: &str = "127.0.0.1";
const ELSEWHERE: &str = "127.0.0.2";
const USER_B: &str = "ttbinh.stttt@kontum.gov.vn";
const PASSWORD_B: &str = "Mat-khau-cua-Binh-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_from_one_address_never_lock_the_owner_out_from_another() {
    let page = start(3).await;
    let p1 = "Mat-khau-moi-2024";
    for attempt in 1..=3 {
        let reply = page
            .change_from(HERE, &page.jar("attacker"), USER, "wrong-password", p1)
            .await;
        let expected = if attempt < 3 { 400 } else { 429 };
        assert_eq!(reply.status, expected, "attempt {attempt}: {}", reply.body);
    }
    // The guessing address is refused for this address, even with the right password...
    let reply = page
        .change_from(HERE, &page.jar("attacker"), USER, INITIAL, p1)
        .await;
    assert_eq!(reply.status, 429);
    // ...the owner on another address gets through at once.
    let reply = page
        .change_from(ELSEWHERE, &page.jar("owner"), USER, INITIAL, p1)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(matches!(page.login(p1).await, LoginOutcome::Ok { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_for_one_user_do_not_stop_a_colleague_behind_the_same_address() {
    let page = start(3).await;
    page.add_user(USER_B, PASSWORD_B).await;
    let jar = page.jar("office");
    for attempt in 1..=3 {
        let reply = page
            .change_from(HERE, &jar, USER, "wrong-password", "Mat-khau-moi-2024")
            .await;
        assert_ne!(reply.status, 200, "attempt {attempt}");
    }
    let new_b = "Mat-khau-moi-cua-Binh";
    let reply = page
        .change_from(HERE, &jar, USER_B, PASSWORD_B, new_b)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(matches!(
        page.login_as(USER_B, new_b).await,
        LoginOutcome::Ok { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spaces_case_trailing_dot_and_nfd_are_one_login() {
    let page = start(3).await;
    // An alias with Vietnamese letters, stored in NFC, and the same in NFD
    // (ễ = e + U+0302 + U+0303, ă = a + U+0306).
    let alias = "nguyễn.văn.an@kontum.gov.vn";
    page.store.add_alias(alias, USER, None).await.unwrap();
    let nfd = "nguye\u{302}\u{303}n.va\u{306}n.an@kontum.gov.vn";
    assert_ne!(nfd, alias);
    assert_eq!(policy::naming::canonical_login(nfd), alias);
    let jar = page.jar("a");
    let p1 = "Mat-khau-moi-2024";
    // Three spellings share one entry: the third failure locks it.
    let upper_dot = format!("{}.", alias.to_uppercase());
    let spellings = [format!(" {alias}"), upper_dot.clone(), nfd.to_string()];
    for (i, variant) in spellings.iter().enumerate() {
        let reply = page
            .change_from(HERE, &jar, variant, "wrong-password", p1)
            .await;
        let expected = if i < 2 { 400 } else { 429 };
        assert_eq!(reply.status, expected, "{variant:?}: {}", reply.body);
    }
    for variant in [alias.to_string(), format!("{alias} ")] {
        let reply = page.change_from(HERE, &jar, &variant, INITIAL, p1).await;
        assert_eq!(reply.status, 429, "{variant:?}");
    }
    // The account is looked up by the same canonical form: the NFD spelling changes the
    // owner's password from another address.
    let reply = page
        .change_from(ELSEWHERE, &page.jar("b"), nfd, INITIAL, p1)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains(USER), "{}", reply.body);
    assert!(matches!(page.login(p1).await, LoginOutcome::Ok { .. }));
    // An ASCII address typed with spaces, capitals and a final dot: one entry too.
    let p2 = "Mat-khau-thu-hai-2025";
    for variant in [format!(" {USER}"), format!("{}.", USER.to_uppercase())] {
        let reply = page
            .change_from(ELSEWHERE, &page.jar("b"), &variant, "wrong-password", p2)
            .await;
        assert_eq!(reply.status, 400, "{variant:?}");
    }
    let reply = page
        .change_from(ELSEWHERE, &page.jar("b"), &format!("{USER}\t"), "wrong", p2)
        .await;
    assert_eq!(reply.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_failing_across_logins_is_banned_briefly() {
    let page = start_throttled(policy::limits::ThrottleConfig {
        max_failures: 3,
        lock: Duration::from_secs(60),
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        ip_ban_failures: 4,
        ip_ban_accounts: 0,
        ip_ban: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    page.add_user(USER_B, PASSWORD_B).await;
    let jar = page.jar("a");
    let p1 = "Mat-khau-moi-2024";
    for login in [USER, USER, "x1@kontum.gov.vn"] {
        let reply = page.change_from(HERE, &jar, login, "wrong", p1).await;
        assert_eq!(reply.status, 400, "{login}");
    }
    // The fourth failure bans the address: refused, and so is everyone from it.
    let reply = page
        .change_from(HERE, &jar, "x2@kontum.gov.vn", "wrong", p1)
        .await;
    assert_eq!(reply.status, 429);
    assert!(reply.header("retry-after").is_some());
    let new_b = "Mat-khau-moi-cua-Binh";
    let reply = page
        .change_from(HERE, &jar, USER_B, PASSWORD_B, new_b)
        .await;
    assert_eq!(reply.status, 429);
    // Not other addresses.
    let reply = page
        .change_from(ELSEWHERE, &page.jar("b"), USER, INITIAL, p1)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // The ban lifts after the configured time.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let reply = page
        .change_from(HERE, &jar, USER_B, PASSWORD_B, new_b)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}
