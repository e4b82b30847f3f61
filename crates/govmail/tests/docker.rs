//! Issue 17 item 11: the Docker files, checked by what can run without a Docker engine.
//!
//! - Both configuration files pass `govmail check-config`: the image's own defaults
//!   (`docker/image.toml`, no clamd, no PostgreSQL) and the one compose mounts
//!   (`docker/govmail.toml`).
//! - compose.yaml (read with Python's yaml): `serve` with no `--set` overrides, the config file
//!   mounted read-only where the image reads it, ports and health check matching the config.
//! - A hadolint-style lint of the Dockerfile: pinned base images, non-root user, apt lists
//!   removed, every COPY source present, the config copied where GOVMAIL_CONFIG points.
//! - `docker compose config` (or `docker-compose config`) when one is installed; otherwise
//!   that step says it was skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_govmail");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn toml_of(rel: &str) -> toml::Table {
    toml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The ports of a `listen.*` list.
fn ports(config: &toml::Table, key: &str) -> Vec<u16> {
    config["listen"][key]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .port()
        })
        .collect()
}

fn check_config(rel: &str) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .env_remove("GOVMAIL_CONFIG")
        .arg("--config")
        .arg(root().join(rel))
        // The container's /var/lib/govmail does not exist here.
        .arg("--set")
        .arg(format!("server.data_dir={}", data.path().display()))
        .arg("check-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{rel}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn both_config_files_are_valid_and_the_image_needs_no_clamd() {
    check_config("docker/image.toml");
    check_config("docker/govmail.toml");
    let image = toml_of("docker/image.toml");
    assert_eq!(image["antivirus"]["enabled"].as_bool(), Some(false));
    assert_eq!(
        image["server"]["data_dir"].as_str(),
        Some("/var/lib/govmail")
    );
    assert_eq!(
        image["storage"]["url"].as_str(),
        Some(""),
        "SQLite in the volume"
    );
    let mounted = toml_of("docker/govmail.toml");
    assert_eq!(
        mounted["antivirus"]["clamd"].as_str(),
        Some("tcp://clamav:3310")
    );
    assert!(mounted["storage"]["url"]
        .as_str()
        .unwrap()
        .starts_with("postgres://govmail:govmail@postgres:5432/"));
}

/// compose.yaml as JSON, through Python's yaml (installed with the test tools).
fn compose() -> serde_json::Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))")
        .arg(root().join("docker/compose.yaml"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "compose.yaml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn compose_mounts_one_config_for_serve_and_the_cli() {
    let compose = compose();
    let govmail = &compose["services"]["govmail"];
    // `serve` reads the mounted file like every `docker compose exec govmail govmail ...`.
    assert_eq!(govmail["command"], serde_json::json!(["serve"]));
    assert!(
        !compose.to_string().contains("--set"),
        "no overrides in compose"
    );
    let volumes: Vec<&str> = govmail["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        volumes.contains(&"./govmail.toml:/etc/govmail/govmail.toml:ro"),
        "{volumes:?}"
    );
    assert!(
        volumes.contains(&"govmail-data:/var/lib/govmail"),
        "{volumes:?}"
    );
    assert_eq!(
        govmail["environment"]["GOVMAIL_CONFIG"],
        "/etc/govmail/govmail.toml"
    );
    // Every published container port is one the mounted config listens on.
    let config = toml_of("docker/govmail.toml");
    let listening: Vec<u16> = [
        "smtp",
        "submission",
        "submissions",
        "imap",
        "imaps",
        "http",
        "https",
        "managesieve",
    ]
    .iter()
    .flat_map(|k| ports(&config, k))
    .collect();
    for mapping in govmail["ports"].as_array().unwrap() {
        let inside: u16 = mapping
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(listening.contains(&inside), "{mapping} not listened on");
    }
    let health = govmail["healthcheck"]["test"].to_string();
    let http = ports(&config, "http")[0];
    assert!(
        health.contains(&format!("127.0.0.1:{http}/readyz")),
        "{health}"
    );
    for service in ["clamav", "postgres"] {
        assert!(compose["services"][service].is_object(), "{service}");
        assert!(
            govmail["depends_on"][service]["condition"] == "service_healthy",
            "{service}"
        );
    }
}

#[test]
fn dockerfile_lint() {
    let text = read("docker/Dockerfile");
    // Joined continuation lines, comments dropped.
    let mut lines: Vec<String> = vec![];
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(line);
            lines.push(std::mem::take(&mut current));
        }
    }
    let instr = |name: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l[name.len()..].trim().to_string())
            .collect()
    };
    // DL3006/DL3007: base images tagged, never `latest`.
    for from in instr("FROM") {
        let image = from.split_whitespace().next().unwrap();
        assert!(
            image.contains(':') && !image.ends_with(":latest"),
            "FROM {from}"
        );
    }
    // DL3015/DL3009: no recommends, apt lists removed in the same layer.
    for run in instr("RUN")
        .iter()
        .filter(|r| r.contains("apt-get install"))
    {
        assert!(run.contains("--no-install-recommends"), "{run}");
        assert!(run.contains("rm -rf /var/lib/apt/lists"), "{run}");
        assert!(run.contains("-y"), "{run}");
    }
    // DL3002: the last USER is not root.
    let user = instr("USER");
    let last = user.last().expect("a USER line");
    assert!(last != "root" && last != "0", "USER {last}");
    // Every COPY source (outside other stages) exists; the config goes where GOVMAIL_CONFIG
    // points.
    let mut config_dest = None;
    for copy in instr("COPY") {
        if copy.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = copy.split_whitespace().collect();
        let (sources, dest) = parts.split_at(parts.len() - 1);
        for source in sources {
            if *source != "." {
                assert!(root().join(source).exists(), "COPY {source}: no such file");
            }
            if source.ends_with(".toml") {
                config_dest = Some(dest[0].to_string());
            }
        }
    }
    assert_eq!(config_dest.as_deref(), Some("/etc/govmail/govmail.toml"));
    assert!(
        instr("ENV")
            .iter()
            .any(|e| e == "GOVMAIL_CONFIG=/etc/govmail/govmail.toml"),
        "{:?}",
        instr("ENV")
    );
    // The image runs `govmail serve` with no overrides; the ports it exposes are the ones its
    // config listens on; a health check exists.
    assert_eq!(instr("ENTRYPOINT"), [r#"["govmail"]"#]);
    assert_eq!(instr("CMD"), [r#"["serve"]"#]);
    let exposed: Vec<u16> = instr("EXPOSE")
        .iter()
        .flat_map(|e| e.split_whitespace().map(|p| p.parse::<u16>().unwrap()))
        .collect();
    let image = toml_of("docker/image.toml");
    for key in [
        "smtp",
        "submission",
        "submissions",
        "imap",
        "imaps",
        "http",
        "https",
        "managesieve",
    ] {
        for port in ports(&image, key) {
            assert!(exposed.contains(&port), "listen.{key} {port} not exposed");
        }
    }
    assert_eq!(instr("HEALTHCHECK").len(), 1);
}

/// `docker compose config` validates the file the way Docker would (the engine is not needed).
#[test]
fn docker_compose_config_where_available() {
    let dir = root().join("docker");
    let plugin = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = if plugin {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    } else if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        Command::new("docker-compose")
    } else {
        eprintln!("skipped: neither `docker compose` nor `docker-compose` is installed here");
        return;
    };
    let out = cmd
        .current_dir(&dir)
        .args(["-f", "compose.yaml", "config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker compose config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/etc/govmail/govmail.toml"), "{text}");
}
