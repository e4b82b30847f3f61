//! `govmail serve`: opens storage, loads TLS, binds every configured listener (all or nothing),
//! then runs until SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;

async fn bind_all(key: &str, addrs: &[String]) -> anyhow::Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("{key}: cannot listen on {addr}"))?;
        listeners.push(listener);
    }
    Ok(listeners)
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.server.log_level));
    // Colours only for a person watching a terminal, never into a log file or journal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if config.server.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The IMAP sessions' settings from the configuration.
fn imap_settings(config: &Config) -> imap::Settings {
    imap::Settings {
        hostname: config.server.hostname.clone(),
        password_url: config.password_url(),
        max_line_length: config.imap.max_line_length,
        max_literal: config.smtp.max_message_size,
        max_command: 1024 * 1024,
        // One APPEND (every MULTIAPPEND message and CATENATE part) holds at most what one
        // message may: memory per connection stays as before.
        max_append_bytes: config.smtp.max_message_size,
        max_append_parts: 1000,
        notify_max_pending: 1000,
        preview_lazy_budget: Duration::from_millis(100),
        idle_timeout: Duration::from_secs(config.imap.idle_timeout_secs),
        login_timeout: Duration::from_secs(config.imap.login_timeout_secs),
        tls_handshake_timeout: Duration::from_secs(config.imap.tls_handshake_timeout_secs),
        max_connections: config.imap.max_connections,
        max_connections_per_ip: config.imap.max_connections_per_ip,
        max_errors: config.imap.max_errors,
        allow_plaintext_loopback: config.tls.allow_plaintext_loopback,
        max_folders: config.imap.max_folders,
        max_folder_depth: config.imap.max_folder_depth,
        max_folder_name_bytes: config.imap.max_folder_name_bytes,
    }
}

/// The SMTP sessions' settings from the configuration.
fn smtp_settings(config: &Config) -> smtp::Settings {
    let spam = &config.spam;
    smtp::Settings {
        hostname: config.server.hostname.clone(),
        max_message_size: config.smtp.max_message_size,
        max_recipients: config.smtp.max_recipients,
        max_line_length: config.smtp.max_line_length,
        max_connections: config.smtp.max_connections,
        max_connections_per_ip: config.smtp.max_connections_per_ip,
        idle_timeout: Duration::from_secs(config.smtp.idle_timeout_secs),
        pressure_idle_timeout: Duration::from_secs(config.smtp.pressure_idle_timeout_secs),
        tls_handshake_timeout: Duration::from_secs(config.smtp.tls_handshake_timeout_secs),
        min_data_rate: config.smtp.min_data_rate,
        max_messages_per_connection: config.smtp.max_messages_per_connection,
        max_commands_before_mail: config.smtp.max_commands_before_mail,
        max_errors: config.smtp.max_errors,
        allow_plaintext_loopback: config.tls.allow_plaintext_loopback,
        av_on_failure: if config.antivirus.on_failure == "accept-and-tag" {
            smtp::AvFailure::AcceptAndTag
        } else {
            smtp::AvFailure::Tempfail
        },
        attachments: config.attachments.rules(),
        spam: spam.to_policy(),
        auth_max_failures: config.smtp.auth_max_failures,
        auth_lock: Duration::from_secs(config.smtp.auth_lock_secs),
        forwarding: config.forwarding_policy(),
        password_url: config.password_url(),
        role_target: Some(config.server.admin_group.trim())
            .filter(|a| !a.is_empty())
            .map(str::to_string),
        sieve_limits: config.sieve_limits(),
        sieve_local_zone: config.reports.offset_seconds() / 60,
    }
}

/// The ManageSieve sessions' settings from the configuration.
fn managesieve_settings(config: &Config) -> managesieve::Settings {
    let s = &config.sieve;
    managesieve::Settings {
        hostname: config.server.hostname.clone(),
        max_script_bytes: s.max_script_bytes,
        max_scripts: s.max_scripts,
        sieve_limits: config.sieve_limits(),
        max_line_length: 8192,
        login_timeout: Duration::from_secs(s.login_timeout_secs),
        idle_timeout: Duration::from_secs(s.idle_timeout_secs),
        tls_handshake_timeout: Duration::from_secs(s.tls_handshake_timeout_secs),
        max_connections: s.max_connections,
        max_connections_per_ip: s.max_connections_per_ip,
        max_errors: config.imap.max_errors,
        allow_plaintext_loopback: config.tls.allow_plaintext_loopback,
    }
}

/// The LDAP sessions' settings from the configuration.
fn ldap_settings(config: &Config) -> ldap::Settings {
    let l = &config.ldap;
    ldap::Settings {
        domain: config.ldap_base_domain(),
        max_results: l.max_results,
        max_search_time: Duration::from_secs(l.max_search_time_secs),
        max_request_bytes: l.max_request_bytes,
        max_request_depth: 32,
        refresh: Duration::from_secs(l.refresh_secs),
        allow_anonymous: l.allow_anonymous,
        login_timeout: Duration::from_secs(l.login_timeout_secs),
        idle_timeout: Duration::from_secs(l.idle_timeout_secs),
        tls_handshake_timeout: Duration::from_secs(l.tls_handshake_timeout_secs),
        max_connections: l.max_connections,
        max_connections_per_ip: l.max_connections_per_ip,
        allow_plaintext_loopback: config.tls.allow_plaintext_loopback,
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    init_logging(&config);
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    policy::password::set_verified_cache(Duration::from_secs(config.accounts.login_cache_secs));
    std::fs::create_dir_all(&config.server.data_dir).with_context(|| {
        format!(
            "server.data_dir: creating {}",
            config.server.data_dir.display()
        )
    })?;
    // Every change this process makes is announced to its sessions (storage::listing).
    let store = crate::open_store(&config)
        .await?
        .trusting_announced_changes();
    // Several nodes on one PostgreSQL: other nodes' changes pushed to this one (issue 16).
    store.start_fanout();
    let tls = crate::tls::server_config(&config)?;
    let clamd = if config.antivirus.enabled {
        let address = policy::antivirus::ClamdAddress::parse(&config.antivirus.clamd)
            .map_err(|m| anyhow::anyhow!("antivirus.clamd: {m}"))?;
        Some(policy::antivirus::Clamd::new(
            address,
            Duration::from_secs(config.antivirus.timeout_secs),
        ))
    } else {
        None
    };
    // Bind everything before serving anything: a config that cannot be served fully starts nothing.
    let http = bind_all("listen.http", &config.listen.http).await?;
    let https = bind_all("listen.https", &config.listen.https).await?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    let shared = Arc::new(crate::http::Shared {
        store: store.clone(),
        clamd: clamd.clone(),
        metrics,
        data_dir: config.server.data_dir.clone(),
        cert_path: crate::tls::cert_paths(&config).ok().map(|(cert, _)| cert),
        autoconfig: config.autoconfig.clone(),
        hostname: config.server.hostname.clone(),
        min_free_bytes: config.health.min_free_mb * 1024 * 1024,
    });
    storage::meta::set_parse_limits(config.mime.limits());
    // One throttle for SMTP AUTH, IMAP LOGIN, ManageSieve, LDAP bind and the /password page.
    let throttle = Arc::new(policy::limits::AuthThrottle::new(config.auth_throttle()));
    let mut smtp_context = smtp::Context::new(
        smtp_settings(&config),
        store.clone(),
        clamd.clone(),
        Some(tls.clone()),
        throttle.clone(),
    );
    if config.smtp.check_sender_authentication {
        let resolvers: Vec<std::net::SocketAddr> = config
            .dns
            .resolvers
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect();
        let authenticator = smtp::authres::Authenticator::new(&resolvers)
            .context("dns.resolvers")?
            .with_deadline(Duration::from_secs(config.dns.auth_deadline_secs));
        smtp_context = smtp_context.with_authenticator(authenticator);
    }
    let outbound_worker = if config.outbound.enabled {
        let settings = config
            .outbound_settings()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Some(smtp::outbound::Worker::new(settings, store.clone()).context("outbound")?)
    } else {
        None
    };
    smtp_context.outbound_waker = outbound_worker.as_ref().map(|w| w.waker());
    let smtp_context = Arc::new(smtp_context);
    let smtp = smtp::Server::bind(
        smtp_context,
        &config.listen.smtp,
        &config.listen.submission,
        &config.listen.submissions,
    )
    .await
    .context("listen.smtp/submission/submissions")?;
    for (kind, addr) in smtp.local_addrs() {
        tracing::info!(?kind, %addr, "smtp listening");
        println!("listening smtp {kind:?} {addr}");
    }

    let mut tasks = tokio::task::JoinSet::new();
    for listener in http {
        let app = crate::http::router(shared.clone());
        tasks.spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "http listener stopped");
            }
        });
    }
    let (https_stop, https_stop_rx) = tokio::sync::watch::channel(false);
    let password_state = crate::password_page::PasswordState {
        store: store.clone(),
        throttle: throttle.clone(),
        min_length: config.accounts.min_password_length,
        history: config.accounts.password_history,
        hostname: config.server.hostname.clone(),
    };
    let carddav_context = Arc::new(carddav::Context::new(store.clone(), throttle.clone()));
    let mut https_tasks = tokio::task::JoinSet::new();
    for listener in https {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "https listening");
            println!("listening https {addr}");
        }
        https_tasks.spawn(crate::password_page::serve_tls(
            listener,
            tls.clone(),
            crate::password_page::router(password_state.clone())
                .merge(crate::http::autoconfig_router(shared.clone()))
                .merge(carddav::router(carddav_context.clone()))
                .fallback(crate::http::not_found),
            https_stop_rx.clone(),
        ));
    }
    let imap_context = Arc::new(imap::Context::new(
        imap_settings(&config),
        store.clone(),
        Some(tls.clone()),
        throttle.clone(),
    ));
    let imap = imap::Server::bind(imap_context, &config.listen.imap, &config.listen.imaps)
        .await
        .context("listen.imap/imaps")?;
    for (addr, implicit_tls) in imap.local_addrs() {
        tracing::info!(%addr, implicit_tls, "imap listening");
        println!(
            "listening imap{} {addr}",
            if implicit_tls { "s" } else { "" }
        );
    }
    let managesieve_context = Arc::new(managesieve::Context::new(
        managesieve_settings(&config),
        store.clone(),
        Some(tls.clone()),
        throttle.clone(),
    ));
    let managesieve = managesieve::Server::bind(managesieve_context, &config.listen.managesieve)
        .await
        .context("listen.managesieve")?;
    for addr in managesieve.local_addrs() {
        tracing::info!(%addr, "managesieve listening");
        println!("listening managesieve {addr}");
    }
    let ldap_context = Arc::new(ldap::Context::new(
        ldap_settings(&config),
        store.clone(),
        Some(tls.clone()),
        throttle.clone(),
    ));
    let ldap = ldap::Server::bind(ldap_context, &config.listen.ldap, &config.listen.ldaps)
        .await
        .context("listen.ldap/ldaps")?;
    for (kind, addr) in ldap.local_addrs() {
        tracing::info!(?kind, %addr, "ldap listening");
        println!(
            "listening {} {addr}",
            if kind == ldap::Kind::Ldaps {
                "ldaps"
            } else {
                "ldap"
            }
        );
    }
    let outbound = outbound_worker.map(|w| w.spawn());
    let imap_shutdown = imap.shutdown_handle();
    let imap_task = tokio::spawn(imap.run());
    let managesieve_shutdown = managesieve.shutdown_handle();
    let managesieve_task = tokio::spawn(managesieve.run());
    let ldap_shutdown = ldap.shutdown_handle();
    let ldap_task = tokio::spawn(ldap.run());
    let (ops_shutdown, ops_shutdown_rx) = tokio::sync::watch::channel(false);
    let retention_task = tokio::spawn(crate::ops::retention_task(
        store.clone(),
        config.retention.clone(),
        ops_shutdown_rx.clone(),
    ));
    let settle_task = tokio::spawn(crate::ops::settle_task(store.clone(), ops_shutdown_rx));
    let smtp_shutdown = smtp.shutdown_handle();
    let smtp_task = tokio::spawn(smtp.run());
    tracing::info!(hostname = %config.server.hostname, backend = store.backend_name(), "govmail serving");
    match crate::admin::role_address_problem(&store, &config.server.admin_group).await {
        Ok(Some(problem)) => tracing::warn!("{problem}"),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "checking server.admin_group"),
    }
    println!("govmail serving (pid {})", std::process::id());
    shutdown_signal().await;
    tracing::info!("shutting down");
    smtp_shutdown.trigger();
    imap_shutdown.trigger();
    managesieve_shutdown.trigger();
    ldap_shutdown.trigger();
    let _ = https_stop.send(true);
    if let Some(outbound) = outbound {
        outbound.shutdown(Duration::from_secs(12)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = smtp_task.await;
        let _ = imap_task.await;
        let _ = managesieve_task.await;
        let _ = ldap_task.await;
        while https_tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    let _ = ops_shutdown.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = tokio::join!(retention_task, settle_task);
    })
    .await;
    if let Err(e) = store.flush_mail_flow().await {
        tracing::warn!(error = %e, "writing message counters at shutdown failed");
    }
    store.close().await;
    Ok(())
}
