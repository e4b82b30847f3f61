//! SMTP load generator for the benchmarks: N concurrent connections each sending messages of a
//! fixed size (one MAIL/RCPT/DATA per message, connection reused), or the same number of
//! concurrent clamd INSTREAM scans. Prints one line: count, seconds, rate, p50 and p99 latency.
//! Talks only to the address it is given (loopback in every benchmark).

use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Target IP:PORT (SMTP server, or clamd with --clamd). SMTP: several, comma-separated,
    /// spread the connections over them (worker i uses address i mod n: several nodes).
    #[arg(long)]
    addr: String,
    #[arg(long, default_value_t = 20)]
    connections: usize,
    /// Messages (or scans) in total.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    #[arg(long, default_value = "bench@example.org")]
    from: String,
    #[arg(long)]
    to: Option<String>,
    /// Reconnect after this many messages on one connection.
    #[arg(long, default_value_t = 50)]
    per_connection: usize,
    /// Benchmark clamd's INSTREAM instead of SMTP.
    #[arg(long)]
    clamd: bool,
    /// A label printed with the result.
    #[arg(long, default_value = "run")]
    label: String,
    /// Send the messages in the files of this directory (name order, each once; line ends
    /// made CRLF, dot-stuffed) instead of generated ones; `--messages` is then their number.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

/// The messages of `--dir`, ready for DATA: CRLF line ends, dot-stuffed, ending in CRLF.
fn read_dir(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .expect("--dir is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| {
            let raw = std::fs::read(p).expect("message file is readable");
            let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
            let mut at_line_start = true;
            for (i, &b) in raw.iter().enumerate() {
                if at_line_start && b == b'.' {
                    out.push(b'.');
                }
                if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
                    out.push(b'\r');
                }
                out.push(b);
                at_line_start = b == b'\n';
            }
            if !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
            out
        })
        .collect()
}

fn body(size: usize, n: usize, to: &str) -> Vec<u8> {
    let header = format!(
        "From: <bench@example.org>\r\nTo: <{to}>\r\nSubject: benchmark message {n}\r\nMessage-ID: <bench-{n}-{}@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0700\r\n\r\n",
        std::process::id()
    );
    let mut out = header.into_bytes();
    let line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
    while out.len() + line.len() <= size {
        out.extend_from_slice(line);
    }
    while out.len() < size - 2 {
        out.push(b'x');
    }
    out.extend_from_slice(b"\r\n");
    out
}

async fn read_reply(reader: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        reply.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return Ok(reply);
        }
    }
}

async fn expect(reader: &mut BufReader<TcpStream>, code: &str) -> std::io::Result<()> {
    let reply = read_reply(reader).await?;
    if reply.starts_with(code) {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "expected {code}, got {}",
            reply.trim()
        )))
    }
}

async fn connect(args: &Args, worker: usize) -> std::io::Result<BufReader<TcpStream>> {
    let addrs: Vec<&str> = args.addr.split(',').collect();
    let stream = TcpStream::connect(addrs[worker % addrs.len()]).await?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream);
    expect(&mut reader, "220").await?;
    reader
        .get_mut()
        .write_all(b"EHLO bench.example.org\r\n")
        .await?;
    expect(&mut reader, "250").await?;
    Ok(reader)
}

/// One SMTP worker: sends `count` messages, returns each latency.
async fn smtp_worker(
    args: Args,
    worker: usize,
    count: usize,
    files: std::sync::Arc<Vec<Vec<u8>>>,
) -> std::io::Result<Vec<Duration>> {
    let to = args.to.clone().expect("--to is required for SMTP");
    let mut latencies = Vec::with_capacity(count);
    let mut reader = connect(&args, worker).await?;
    let mut on_connection = 0;
    for i in 0..count {
        if on_connection == args.per_connection {
            reader.get_mut().write_all(b"QUIT\r\n").await?;
            let _ = read_reply(&mut reader).await;
            reader = connect(&args, worker).await?;
            on_connection = 0;
        }
        let data = if files.is_empty() {
            body(args.size, worker * 1_000_000 + i, &to)
        } else {
            // Worker w sends files w, w + connections, w + 2 × connections, ...
            files[worker + i * args.connections].clone()
        };
        let start = Instant::now();
        reader
            .get_mut()
            .write_all(format!("MAIL FROM:<{}>\r\n", args.from).as_bytes())
            .await?;
        expect(&mut reader, "250").await?;
        reader
            .get_mut()
            .write_all(format!("RCPT TO:<{to}>\r\n").as_bytes())
            .await?;
        expect(&mut reader, "250").await?;
        reader.get_mut().write_all(b"DATA\r\n").await?;
        expect(&mut reader, "354").await?;
        reader.get_mut().write_all(&data).await?;
        reader.get_mut().write_all(b".\r\n").await?;
        expect(&mut reader, "250").await?;
        latencies.push(start.elapsed());
        on_connection += 1;
    }
    reader.get_mut().write_all(b"QUIT\r\n").await?;
    Ok(latencies)
}

/// One clamd worker: `count` INSTREAM scans of a clean message.
async fn clamd_worker(args: Args, worker: usize, count: usize) -> std::io::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(count);
    for i in 0..count {
        let data = body(args.size, worker * 1_000_000 + i, "scan@example.org");
        let start = Instant::now();
        let mut stream = TcpStream::connect(&args.addr).await?;
        stream.write_all(b"zINSTREAM\0").await?;
        stream.write_all(&(data.len() as u32).to_be_bytes()).await?;
        stream.write_all(&data).await?;
        stream.write_all(&0u32.to_be_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        if !reply.starts_with(b"stream: OK") {
            return Err(std::io::Error::other(format!(
                "clamd: {}",
                String::from_utf8_lossy(&reply)
            )));
        }
        latencies.push(start.elapsed());
    }
    Ok(latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let mut args = Args::parse();
    let files = std::sync::Arc::new(args.dir.as_deref().map(read_dir).unwrap_or_default());
    if !files.is_empty() {
        args.messages = files.len();
    }
    let per_worker = args.messages / args.connections;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..args.connections {
        let args = args.clone();
        if args.clamd {
            tasks.spawn(clamd_worker(args, worker, per_worker));
        } else {
            tasks.spawn(smtp_worker(args, worker, per_worker, files.clone()));
        }
    }
    let mut latencies = vec![];
    let mut errors = 0;
    while let Some(result) = tasks.join_next().await {
        match result.expect("worker panicked") {
            Ok(mut l) => latencies.append(&mut l),
            Err(e) => {
                errors += 1;
                eprintln!("worker error: {e}");
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "{} ok={} errors={} seconds={:.2} rate={:.1}/s p50_ms={:.2} p99_ms={:.2}",
        args.label,
        latencies.len(),
        errors,
        seconds,
        latencies.len() as f64 / seconds,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
    if errors > 0 {
        std::process::exit(1);
    }
}
