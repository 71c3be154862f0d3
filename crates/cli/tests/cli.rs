//! The `zerotrace` binary as an operator uses it: admin commands on a fresh data directory, then
//! `serve` on that directory, driven over HTTP the way the README's curl flow does.

use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

mod support;

fn zerotrace(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zerotrace"));
    command
        .env("ZEROTRACE_DATA_DIR", data_dir)
        .env_remove("DATABASE_URL");
    command
}

fn run_json(command: &mut Command) -> Value {
    let output = command.output().expect("zerotrace runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("--json prints JSON")
}

/// Kills the server when the test ends, whatever happens.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn admin_commands_then_serve_work_as_the_readme_says() {
    let data = tempfile::tempdir().unwrap();

    let org =
        run_json(zerotrace(data.path()).args(["org", "create", "--name", "ACME Corp", "--json"]));
    assert_eq!(org["slug"], "acme-corp");
    let user = run_json(zerotrace(data.path()).args([
        "user",
        "create",
        "--org",
        "acme-corp",
        "--email",
        "Alice@ACME.example",
        "--role",
        "org-admin",
        "--json",
    ]));
    assert_eq!(user["email"], "alice@acme.example");
    assert_eq!(user["role"], "org_admin");
    let password = user["password"]
        .as_str()
        .expect("a generated password")
        .to_owned();
    let key = run_json(zerotrace(data.path()).args([
        "apikey",
        "create",
        "--org",
        "acme-corp",
        "--name",
        "ci",
        "--scopes",
        "read,ingest",
        "--json",
    ]));
    assert_eq!(key["scopes"], "read,ingest");
    let token = run_json(zerotrace(data.path()).args([
        "token",
        "create",
        "--org",
        org["id"].as_str().unwrap(),
        "--max-uses",
        "1",
        "--json",
    ]));
    assert!(token["token"].as_str().unwrap().starts_with("zte_"));

    // Mistakes name what is wrong and exit non-zero.
    let missing = zerotrace(data.path())
        .args(["token", "create", "--org", "nope"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no organization \"nope\""));
    let bad_scope = zerotrace(data.path())
        .args([
            "apikey",
            "create",
            "--org",
            "acme-corp",
            "--name",
            "x",
            "--scopes",
            "root",
        ])
        .output()
        .unwrap();
    assert_eq!(bad_scope.status.code(), Some(2), "clap's usage error");
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope"));

    // Serve the same data directory on a free port; the banner says where and how to log in.
    let mut child = zerotrace(data.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Serving(child);
    let (address, _admin_password) = support::first_start_banner(stderr);
    let base = format!("http://{address}");

    let client = reqwest::blocking::Client::new();
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "alice@acme.example", "password": password}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let alice = login["access_token"]
        .as_str()
        .expect("alice logs in")
        .to_owned();
    let enrolled = client
        .post(format!("{base}/api/v1/agents/enroll"))
        .json(&json!({"token": token["token"], "hostname": "laptop-1", "os": "linux", "os_version": "Debian 12", "arch": "x86_64", "agent_version": "0.1.0"}))
        .send()
        .unwrap();
    assert_eq!(enrolled.status(), 201);
    let agents: Value = client
        .get(format!("{base}/api/v1/agents"))
        .bearer_auth(key["key"].as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        agents["items"][0]["hostname"], "laptop-1",
        "the API key made by the CLI reads the fleet"
    );
    let me: Value = client
        .get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(&alice)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["org_id"], org["id"]);
    drop(server);
}

#[test]
fn every_command_has_help() {
    for command in [
        &["--help"][..],
        &["serve", "--help"],
        &["org", "create", "--help"],
        &["user", "create", "--help"],
        &["token", "create", "--help"],
        &["apikey", "create", "--help"],
        &["db", "migrate", "--help"],
        &["vercmp", "--help"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_zerotrace"))
            .args(command)
            .output()
            .unwrap();
        assert!(output.status.success(), "{command:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage: zerotrace"),
            "{command:?}"
        );
    }
}
