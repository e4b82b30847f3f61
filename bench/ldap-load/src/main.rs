//! LDAP search load for `bench/ldap.sh` (issue 14): CLIENTS connections, each bound once
//! (simple bind, no TLS: loopback only), each running SEARCHES subtree searches of
//! `(cn=PREFIX*)` one after another, prefixes drawn from a list. Prints searches/s, p50, p99
//! and the mean number of entries a search returned; with `--count`, the number of entries
//! each prefix finds (to check that two servers answer the same).
//!
//! Written in Rust so that the client costs little next to the servers it measures (the
//! Python ldap3 client spent more CPU per returned entry than the servers did).

use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapDerefAliases, LdapFilter, LdapMsg, LdapOp, LdapResultCode,
    LdapSearchRequest, LdapSearchScope, LdapSubstringFilter,
};
use ldap3_proto::LdapCodec;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Label printed in front of the figures.
    #[arg(long)]
    label: String,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long)]
    port: u16,
    #[arg(long)]
    bind_dn: String,
    #[arg(long)]
    password: String,
    #[arg(long)]
    base: String,
    #[arg(long, default_value_t = 8)]
    clients: usize,
    #[arg(long, default_value_t = 2000)]
    searches: usize,
    /// Comma-separated name prefixes, as a user types them.
    #[arg(long, value_delimiter = ',')]
    prefixes: Vec<String>,
    /// sizeLimit of each search (RFC 4511 4.5.1.4).
    #[arg(long, default_value_t = 50)]
    size_limit: i32,
    /// Print how many entries each prefix finds (no size limit) and exit.
    #[arg(long)]
    count: bool,
}

type Conn = Framed<TcpStream, LdapCodec>;

async fn connect(args: &Args) -> Conn {
    let tcp = TcpStream::connect((args.host.as_str(), args.port))
        .await
        .expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let mut conn = Framed::new(tcp, LdapCodec::new(Some(64 << 20), None));
    conn.send(LdapMsg::new(
        1,
        LdapOp::BindRequest(LdapBindRequest {
            version: 3,
            dn: args.bind_dn.clone(),
            cred: LdapBindCred::Simple(args.password.clone()),
        }),
    ))
    .await
    .expect("send bind");
    match conn.next().await {
        Some(Ok(LdapMsg {
            op: LdapOp::BindResponse(r),
            ..
        })) if r.res.code == LdapResultCode::Success => conn,
        other => panic!("bind refused: {other:?}"),
    }
}

/// One search; the number of entries it returned.
async fn search(conn: &mut Conn, msgid: i32, base: &str, prefix: &str, size_limit: i32) -> usize {
    let request = LdapSearchRequest {
        base: base.to_string(),
        scope: LdapSearchScope::Subtree,
        aliases: LdapDerefAliases::Never,
        sizelimit: size_limit,
        timelimit: 0,
        typesonly: false,
        filter: LdapFilter::Substring(
            "cn".into(),
            LdapSubstringFilter {
                initial: Some(prefix.to_string()),
                any: vec![],
                final_: None,
            },
        ),
        attrs: vec!["cn".into(), "mail".into()],
    };
    conn.send(LdapMsg::new(msgid, LdapOp::SearchRequest(request)))
        .await
        .expect("send search");
    let mut entries = 0;
    loop {
        match conn.next().await {
            Some(Ok(LdapMsg {
                op: LdapOp::SearchResultEntry(_),
                ..
            })) => entries += 1,
            Some(Ok(LdapMsg {
                op: LdapOp::SearchResultDone(r),
                ..
            })) => {
                // Success, or sizeLimitExceeded when more matched than the limit.
                assert!(
                    matches!(
                        r.code,
                        LdapResultCode::Success | LdapResultCode::SizeLimitExceeded
                    ),
                    "search failed: {:?} {}",
                    r.code,
                    r.message
                );
                return entries;
            }
            Some(Ok(_)) => {}
            other => panic!("connection lost: {other:?}"),
        }
    }
}

/// A small deterministic generator (xorshift), so each client's prefix sequence repeats.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    assert!(!args.prefixes.is_empty(), "--prefixes is empty");
    if args.count {
        let mut conn = connect(&args).await;
        for (i, prefix) in args.prefixes.iter().enumerate() {
            let n = search(&mut conn, 2 + i as i32, &args.base, prefix, 0).await;
            println!("{prefix} {n}");
        }
        return;
    }
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..args.clients {
        let args = args.clone();
        clients.push(tokio::spawn(async move {
            let mut conn = connect(&args).await;
            let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (c as u64 + 1);
            let mut latencies = Vec::with_capacity(args.searches);
            let mut entries = 0usize;
            for i in 0..args.searches {
                let prefix = &args.prefixes[next(&mut state) as usize % args.prefixes.len()];
                let t = Instant::now();
                entries +=
                    search(&mut conn, 2 + i as i32, &args.base, prefix, args.size_limit).await;
                latencies.push(t.elapsed());
            }
            (latencies, entries)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    let mut entries = 0;
    for c in clients {
        let (mine, n) = c.await.expect("client");
        latencies.extend(mine);
        entries += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let p = |q: f64| {
        latencies[((q * latencies.len() as f64) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    println!(
        "{}: {:.0} searches/s, p50 {:.2} ms, p99 {:.2} ms, {:.1} entries/search",
        args.label,
        latencies.len() as f64 / elapsed,
        p(0.50),
        p(0.99),
        entries as f64 / latencies.len() as f64
    );
}
