//! The password change page (KT-7.1): `GET/POST /password`, served over TLS only.
//!
//! A user whose initial password must be changed (IMAP answers `NO [ALERT]`, SMTP 535 5.7.8)
//! changes it here; any user may come back later. Vietnamese first, English underneath.
//!
//! - CSRF: double submit. `GET` sets a random token in a `csrf` cookie (`HttpOnly; Secure;
//!   SameSite=Strict; Path=/password`) and in a hidden field; a `POST` must carry both, equal.
//! - Rate limit: the [`AuthThrottle`] SMTP and IMAP use (failures per address and client IP,
//!   growing delays, short per-IP bans; never a lock of the account for everyone). A locked or
//!   banned client gets 429 without its password being checked.
//! - The address is put in its canonical form ([`policy::naming::canonical_login`]) once: it is
//!   both the throttle key and the account looked up.
//! - Rules: the current password must verify (an account still on its initial password is
//!   accepted: that is the point), new twice the same, at least `min_length` characters, not the
//!   current one, not one of the last `history` retired ones.
//! - Unknown address and wrong password get the same answer.
//!
//! This file is self-contained (no `crate::` paths) so the integration test can include it.

use crate::text::escape_html as escape;
use policy::password::constant_time_eq;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use policy::limits::{AuthGate, AuthThrottle};
use serde::Deserialize;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// The TLS handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's header must arrive within this (slowloris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// No connection lives longer than this, keep-alive or not.
const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(600);
/// Connections served at once by one listener; more are closed at accept.
const MAX_CONNECTIONS: usize = 1024;
/// A form is a few hundred bytes.
const MAX_BODY: usize = 16 * 1024;
/// Longest accepted password, in characters (argon2 input; nobody types more).
const MAX_PASSWORD_CHARS: usize = 256;
/// Longest accepted address (RFC 5321 path limit).
const MAX_ADDRESS_LEN: usize = 320;
const CSRF_COOKIE: &str = "csrf";

/// What the page needs. Cheap to clone.
#[derive(Clone)]
pub struct PasswordState {
    pub store: storage::Store,
    /// The throttle SMTP AUTH and IMAP LOGIN use (one shared instance).
    pub throttle: Arc<AuthThrottle>,
    /// `accounts.min_password_length`.
    pub min_length: usize,
    /// `accounts.password_history`: retired passwords that may not be reused (0 = no rule).
    pub history: i64,
    /// `server.hostname`, shown on the page.
    pub hostname: String,
}

/// `GET /password` and `POST /password`, with the security headers on every answer.
pub fn router(state: PasswordState) -> Router {
    Router::new()
        .route("/password", get(show_form).post(change_password))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Serves `router` over TLS on `listener` (HTTP/1.1) until `shutdown` turns true (or its sender
/// is dropped). Each request carries the peer's address as `ConnectInfo<SocketAddr>`.
/// A plain-text request fails the handshake: nothing is ever served without TLS.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let (tcp, peer) = tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "https accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "https: too many connections, closing");
            continue;
        };
        connections.spawn(serve_connection(
            acceptor.clone(),
            tcp,
            peer,
            router.clone(),
            shutdown.clone(),
            permit,
        ));
    }
    // Let open requests finish, then drop what is left.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
}

async fn serve_connection(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = tcp.set_nodelay(true);
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "https: TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "https: TLS handshake timed out");
            return;
        }
    };
    let tower_service = TowerToHyperService::new(router);
    let hyper_service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            tower_service.call(request)
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024);
    let connection = builder.serve_connection(TokioIo::new(stream), hyper_service);
    tokio::pin!(connection);
    let lifetime = tokio::time::sleep(MAX_CONNECTION_LIFETIME);
    tokio::pin!(lifetime);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "https connection ended with an error");
                }
                break;
            }
            _ = shutdown.changed(), if !closing => {
                // Finish the request in flight, then close.
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = &mut lifetime => break,
        }
    }
}

// ----- handlers -----

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChangeForm {
    csrf: String,
    address: String,
    current: String,
    new: String,
    again: String,
}

/// A message in both languages.
struct Message {
    vi: String,
    en: String,
    ok: bool,
}

fn error(vi: impl Into<String>, en: impl Into<String>) -> Message {
    Message {
        vi: vi.into(),
        en: en.into(),
        ok: false,
    }
}

async fn show_form(State(state): State<PasswordState>, headers: HeaderMap) -> Response {
    let token = csrf_cookie(&headers)
        .filter(|t| is_token(t))
        .unwrap_or_else(new_token);
    form_response(&state, StatusCode::OK, &token, "", None)
}

async fn change_password(
    State(state): State<PasswordState>,
    extensions: Extensions,
    headers: HeaderMap,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Response {
    let ip = peer_ip(&extensions);
    // CSRF first: nothing else is looked at for a forged or stale form.
    let form = match (form, csrf_cookie(&headers)) {
        (Ok(Form(form)), Some(cookie))
            if is_token(&form.csrf)
                && constant_time_eq(cookie.as_bytes(), form.csrf.as_bytes()) =>
        {
            form
        }
        _ => {
            return form_response(
                &state,
                StatusCode::FORBIDDEN,
                &new_token(),
                "",
                Some(error(
                    "Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng nhập lại và gửi lần nữa.",
                    "The form has expired or is invalid. Please fill it in and send it again.",
                )),
            );
        }
    };
    let address = policy::naming::canonical_login(&form.address);
    let reply = |status: StatusCode, message: Message| {
        form_response(&state, status, &form.csrf, &address, Some(message))
    };
    if address.is_empty() || form.current.is_empty() || form.new.is_empty() || form.again.is_empty()
    {
        return reply(
            StatusCode::BAD_REQUEST,
            error("Vui lòng điền đủ các ô.", "Please fill in every field."),
        );
    }
    if address.len() > MAX_ADDRESS_LEN
        || [&form.current, &form.new, &form.again]
            .iter()
            .any(|p| p.chars().count() > MAX_PASSWORD_CHARS)
    {
        return reply(
            StatusCode::BAD_REQUEST,
            error(
                format!("Mật khẩu hoặc địa chỉ quá dài (tối đa {MAX_PASSWORD_CHARS} ký tự)."),
                format!("The password or address is too long (at most {MAX_PASSWORD_CHARS} characters)."),
            ),
        );
    }
    match state.throttle.check(ip, &address, Instant::now()) {
        AuthGate::Locked(wait) | AuthGate::Banned(wait) => {
            return locked(&state, &form.csrf, &address, wait)
        }
        AuthGate::Proceed => {}
    }
    if form.new != form.again {
        return reply(
            StatusCode::BAD_REQUEST,
            error(
                "Hai lần nhập mật khẩu mới không giống nhau.",
                "The two new passwords do not match.",
            ),
        );
    }
    if policy::password::check_strength(&form.new, state.min_length).is_err() {
        return reply(
            StatusCode::BAD_REQUEST,
            error(
                format!("Mật khẩu mới phải có ít nhất {} ký tự.", state.min_length),
                format!(
                    "The new password must be at least {} characters long.",
                    state.min_length
                ),
            ),
        );
    }
    if form.new == form.current {
        return reply(
            StatusCode::BAD_REQUEST,
            error(
                "Mật khẩu mới phải khác mật khẩu hiện tại.",
                "The new password must be different from the current one.",
            ),
        );
    }
    let outcome = match state
        .store
        .check_login(
            &address,
            &form.current,
            policy::password::verify,
            policy::password::DUMMY_PHC,
        )
        .await
    {
        Ok(outcome) => outcome,
        Err(e) => return server_error(&state, &form.csrf, &address, "check_login", &e),
    };
    match outcome {
        storage::LoginOutcome::Ok { .. } | storage::LoginOutcome::MustChangePassword => {
            state.throttle.success(ip, &address);
        }
        storage::LoginOutcome::Refused => {
            let now = Instant::now();
            let failure = state.throttle.failure(ip, &address, now);
            if failure.locked || failure.banned {
                tracing::warn!(%ip, login = %address, banned = failure.banned, "password page: too many failures");
            }
            // The answer waits (doubling per failure of this address from this client).
            tokio::time::sleep(failure.delay).await;
            if let AuthGate::Locked(wait) | AuthGate::Banned(wait) =
                state.throttle.check(ip, &address, now)
            {
                return locked(&state, &form.csrf, &address, wait);
            }
            tracing::info!(%ip, login = %address, "password page: wrong address or password");
            return reply(
                StatusCode::BAD_REQUEST,
                error(
                    "Địa chỉ thư hoặc mật khẩu hiện tại không đúng.",
                    "The address or the current password is wrong.",
                ),
            );
        }
    }
    let record = match state.store.login_record(&address).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            // Deleted between the two reads.
            return reply(
                StatusCode::BAD_REQUEST,
                error(
                    "Địa chỉ thư hoặc mật khẩu hiện tại không đúng.",
                    "The address or the current password is wrong.",
                ),
            );
        }
        Err(e) => return server_error(&state, &form.csrf, &address, "login_record", &e),
    };
    let retired = if state.history > 0 {
        match state
            .store
            .password_history(record.account_id, state.history)
            .await
        {
            Ok(retired) => retired,
            Err(e) => return server_error(&state, &form.csrf, &address, "password_history", &e),
        }
    } else {
        Vec::new()
    };
    let new = form.new.clone();
    let hashed = tokio::task::spawn_blocking(move || {
        if retired
            .iter()
            .any(|phc| policy::password::verify(&new, phc))
        {
            return Ok(None);
        }
        policy::password::hash(&new).map(Some)
    })
    .await;
    let phc = match hashed {
        Ok(Ok(Some(phc))) => phc,
        Ok(Ok(None)) => {
            return reply(
                StatusCode::BAD_REQUEST,
                error(
                    "Không được dùng lại mật khẩu đã dùng gần đây. Vui lòng chọn mật khẩu khác.",
                    "You may not reuse a recently used password. Please choose another one.",
                ),
            );
        }
        Ok(Err(e)) => return server_error(&state, &form.csrf, &address, "hash", &e),
        Err(e) => return server_error(&state, &form.csrf, &address, "hash task", &e),
    };
    if let Err(e) = state.store.set_password(&record.address, &phc, false).await {
        return server_error(&state, &form.csrf, &address, "set_password", &e);
    }
    let detail = json!({
        "via": "web",
        "ip": ip.to_string(),
        "login": address,
        "was_initial": record.must_change_password,
    });
    if let Err(e) = state
        .store
        .log_event(
            &record.address,
            storage::Action::UserPasswordChange,
            &record.address,
            "",
            detail,
        )
        .await
    {
        tracing::error!(address = %record.address, error = %e, "password changed but the audit event failed");
    }
    tracing::info!(%ip, address = %record.address, "password changed on the web page");
    let body = format!(
        "<h1>Đã đổi mật khẩu</h1><p class=\"en h\">Password changed</p>\
         <p class=\"msg ok\">Mật khẩu của <b>{addr}</b> đã được đổi. Hãy dùng mật khẩu mới trong \
         chương trình thư (Thunderbird, Outlook, điện thoại).\
         <span class=\"en\">The password of <b>{addr}</b> has been changed. Use the new password \
         in your mail program (Thunderbird, Outlook, phone).</span></p>",
        addr = escape(&record.address),
    );
    html_response(
        StatusCode::OK,
        "Đã đổi mật khẩu / Password changed",
        &state.hostname,
        &body,
    )
}

fn locked(state: &PasswordState, token: &str, address: &str, wait: Duration) -> Response {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    let mut response = form_response(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        token,
        address,
        Some(error(
            format!("Có quá nhiều lần thử sai. Vui lòng thử lại sau {minutes} phút."),
            format!("Too many failed attempts. Please try again in {minutes} minute(s)."),
        )),
    );
    if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn server_error(
    state: &PasswordState,
    token: &str,
    address: &str,
    what: &str,
    e: &dyn std::fmt::Display,
) -> Response {
    tracing::error!(error = %e, step = what, "password page failed");
    form_response(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        token,
        address,
        Some(error(
            "Hệ thống đang gặp lỗi, mật khẩu chưa được đổi. Vui lòng thử lại sau.",
            "A server error occurred; the password was not changed. Please try again later.",
        )),
    )
}

// ----- HTML -----

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;\
background:#f3f5f8;color:#1b1f24;margin:0;padding:1.5rem}\
main{max-width:30rem;margin:0 auto;background:#fff;border:1px solid #d5dbe3;border-radius:8px;\
padding:1.5rem 1.75rem}h1{font-size:1.4rem;margin:0}.en{display:block;color:#59636e;\
font-size:.9em}.h{margin:.1rem 0 1rem}label{display:block;margin:.9rem 0 .2rem;font-weight:600}\
label .en{font-weight:400}input[type=text],input[type=password]{width:100%;box-sizing:border-box;\
padding:.5rem;font-size:1rem;border:1px solid #aab4bf;border-radius:4px}\
button{margin-top:1.2rem;padding:.6rem 1.2rem;font-size:1rem;border:0;border-radius:4px;\
background:#b71c1c;color:#fff;cursor:pointer}.msg{padding:.6rem .8rem;border-radius:4px}\
.err{background:#fdecea;border:1px solid #f5c2c0}.ok{background:#e8f5e9;border:1px solid #b7dfb9}\
.hint{font-size:.9em;color:#59636e}footer{margin-top:1.2rem;font-size:.85em;color:#59636e}";

fn form_response(
    state: &PasswordState,
    status: StatusCode,
    token: &str,
    address: &str,
    message: Option<Message>,
) -> Response {
    let message = match message {
        None => String::new(),
        Some(m) => format!(
            "<p class=\"msg {class}\" role=\"alert\">{vi}<span class=\"en\">{en}</span></p>",
            class = if m.ok { "ok" } else { "err" },
            vi = escape(&m.vi),
            en = escape(&m.en),
        ),
    };
    let body = format!(
        "<h1>Đổi mật khẩu</h1><p class=\"en h\">Change password</p>\
{message}\
<form method=\"post\" action=\"/password\">\
<input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
<label for=\"address\">Địa chỉ thư điện tử<span class=\"en\">Email address</span></label>\
<input type=\"text\" id=\"address\" name=\"address\" value=\"{address}\" autocomplete=\"username\" \
inputmode=\"email\" autocapitalize=\"none\" spellcheck=\"false\" required>\
<label for=\"current\">Mật khẩu hiện tại<span class=\"en\">Current password</span></label>\
<input type=\"password\" id=\"current\" name=\"current\" autocomplete=\"current-password\" required>\
<label for=\"new\">Mật khẩu mới<span class=\"en\">New password</span></label>\
<input type=\"password\" id=\"new\" name=\"new\" autocomplete=\"new-password\" minlength=\"{min}\" required>\
<label for=\"again\">Nhập lại mật khẩu mới<span class=\"en\">New password again</span></label>\
<input type=\"password\" id=\"again\" name=\"again\" autocomplete=\"new-password\" minlength=\"{min}\" required>\
<p class=\"hint\">Ít nhất {min} ký tự, khác mật khẩu hiện tại và các mật khẩu đã dùng gần đây.\
<span class=\"en\">At least {min} characters, different from the current password and from \
recently used ones.</span></p>\
<button type=\"submit\">Đổi mật khẩu / Change password</button>\
</form>",
        token = escape(token),
        address = escape(address),
        min = state.min_length,
    );
    let mut response = html_response(
        status,
        "Đổi mật khẩu / Change password",
        &state.hostname,
        &body,
    );
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/password"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

fn html_response(status: StatusCode, title: &str, hostname: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\">\
<title>{title}</title><style>{STYLE}</style></head>\
<body><main>{body}<footer>Hệ thống thư điện tử công vụ · {host}\
<span class=\"en\">Official mail system · {host}</span></footer></main></body></html>\n",
        title = escape(title),
        host = escape(hostname),
    );
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response()
}

/// Every answer of this router: never cached, never framed, no referrer, no scripts.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

// ----- CSRF and peer helpers -----

/// 32 random bytes, hex: 64 characters.
fn new_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_token(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `csrf` cookie's value, if the request carries one.
fn csrf_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CSRF_COOKIE)
        .map(|(_, value)| value.trim().to_string())
}

/// The client's IP, from `ConnectInfo` (set by [`serve_tls`] or by
/// `into_make_service_with_connect_info`). Without it every client shares one per-IP bucket
/// (the per-address limit still holds).
fn peer_ip(extensions: &Extensions) -> IpAddr {
    match extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => addr.ip(),
        None => {
            tracing::warn!("password page: no peer address on the request");
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn reads_the_csrf_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; csrf=abc ;b=2"),
        );
        assert_eq!(csrf_cookie(&headers).as_deref(), Some("abc"));
        let token = new_token();
        assert!(is_token(&token));
        assert_ne!(token, new_token());
        assert!(constant_time_eq(token.as_bytes(), token.as_bytes()));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
