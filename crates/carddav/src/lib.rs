//! CardDAV (RFC 6352), read-only: the "Danh bạ tỉnh" address book — persons (departed ones
//! absent), units and groups — for phones and mail clients, on the HTTPS listener.
//!
//! - [`vcard`]: cards as vCard 4.0 (RFC 6350), 3.0 (RFC 2426) when asked.
//! - [`dav`]: the WebDAV side: PROPFIND discovery (RFC 6764 `/.well-known/carddav`, RFC 5397
//!   current-user-principal, RFC 6352 addressbook-home-set), REPORT addressbook-multiget,
//!   addressbook-query (text-match) and sync-collection (RFC 6578) with sync tokens kept for
//!   the process's life.
//!
//! Invariants: every request is authenticated (HTTP Basic, the argon2 check and the AUTH
//! throttle IMAP and SMTP use); request bodies are bounded (`MAX_BODY`); nothing is written.
//! Deviation: request XML is read with a small tag scanner, not a full XML parser (the
//! requests are small and fixed in shape); unknown requested properties are left out rather
//! than listed as 404.

pub mod dav;
pub mod vcard;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use base64::Engine;
use policy::limits::AuthGate;
use storage::LoginOutcome;

/// Largest request body (PROPFIND/REPORT XML).
pub const MAX_BODY: usize = 256 * 1024;

/// What every request shares.
pub struct Context {
    pub store: storage::Store,
    pub auth_throttle: Arc<policy::limits::AuthThrottle>,
    pub sync: dav::SyncHistory,
}

impl Context {
    pub fn new(store: storage::Store, auth_throttle: Arc<policy::limits::AuthThrottle>) -> Context {
        Context {
            store,
            auth_throttle,
            sync: dav::SyncHistory::new(64),
        }
    }
}

/// The routes: `/.well-known/carddav` and everything under `/carddav/`.
pub fn router(context: Arc<Context>) -> Router {
    Router::new()
        .route("/.well-known/carddav", any(well_known))
        .route("/carddav", any(handle))
        .route("/carddav/", any(handle))
        .route("/carddav/{*rest}", any(handle))
        .with_state(context)
}

/// RFC 6764 5: the well-known URI redirects to the context path. The request body (a
/// PROPFIND's XML) is read first, bounded: a reply sent before the client has finished writing
/// makes clients such as vdirsyncer (aiohttp) fail with "Can not write request body".
async fn well_known(request: Request) -> Response {
    let _ = axum::body::to_bytes(request.into_body(), MAX_BODY).await;
    (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, "/carddav/")],
    )
        .into_response()
}

fn unauthorized(text: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"govmail\", charset=\"UTF-8\"",
        )],
        text.to_string(),
    )
        .into_response()
}

async fn handle(State(context): State<Arc<Context>>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let depth = request
        .headers()
        .get("depth")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
        .to_string();
    let accept_v3 = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("version=3.0"));
    // The body (bounded) before any answer, a 401 included: see `well_known`.
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => String::from_utf8_lossy(&body).into_owned(),
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").into_response(),
    };
    let user = match authenticate(&context, authorization.as_deref(), peer).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let book = match context.store.address_book().await {
        Ok(book) => book,
        Err(e) => {
            tracing::warn!(error = %e, "address book read failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "Temporary failure").into_response();
        }
    };
    let cards = vcard::cards(&book);
    let token = context.sync.current(&cards);
    let resource = dav::Resource::of(&path);
    let request = dav::DavRequest {
        method: &method,
        resource: &resource,
        depth: &depth,
        body: &body,
        user: &user,
        accept_v3,
    };
    match dav::respond(&request, &cards, &token, &context.sync) {
        Some((status, content_type, text)) => {
            let mut response = Response::new(Body::from(text));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            // RFC 6352 6.1: the DAV header names addressbook.
            response
                .headers_mut()
                .insert("dav", HeaderValue::from_static("1, 3, addressbook"));
            response
        }
        None if method == Method::OPTIONS => (
            StatusCode::OK,
            [
                ("dav", "1, 3, addressbook"),
                ("allow", "OPTIONS, GET, HEAD, PROPFIND, REPORT"),
            ],
        )
            .into_response(),
        None => (
            StatusCode::METHOD_NOT_ALLOWED,
            [("allow", "OPTIONS, GET, HEAD, PROPFIND, REPORT")],
            "Read-only address book",
        )
            .into_response(),
    }
}

/// HTTP Basic (RFC 7617) with the shared AUTH throttle.
async fn authenticate(
    context: &Context,
    authorization: Option<&str>,
    peer: IpAddr,
) -> Result<String, Response> {
    let Some(credentials) = authorization
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return Err(unauthorized("Authentication required"));
    };
    let Some((login, password)) = credentials.split_once(':') else {
        return Err(unauthorized("Authentication required"));
    };
    let login = policy::naming::canonical_login(login);
    let throttle = &context.auth_throttle;
    if let AuthGate::Locked(left) | AuthGate::Banned(left) =
        throttle.check(peer, &login, Instant::now())
    {
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, left.as_secs().max(1).to_string())],
            "Too many failed logins",
        )
            .into_response());
    }
    match context
        .store
        .check_login(
            &login,
            password,
            policy::password::verify,
            policy::password::DUMMY_PHC,
        )
        .await
    {
        Ok(LoginOutcome::Ok { address, .. }) => {
            throttle.success(peer, &login);
            Ok(address)
        }
        Ok(LoginOutcome::MustChangePassword) => {
            throttle.success(peer, &login);
            Err((StatusCode::FORBIDDEN, "Change your initial password first").into_response())
        }
        Ok(LoginOutcome::Refused) => {
            let failure = throttle.failure(peer, &login, Instant::now());
            tokio::time::sleep(failure.delay).await;
            Err(unauthorized("Invalid credentials"))
        }
        Err(e) => {
            tracing::warn!(error = %e, "login lookup failed");
            Err((StatusCode::SERVICE_UNAVAILABLE, "Temporary failure").into_response())
        }
    }
}
