//! `make deploy` (scripts/deploy.sh) as an owner meets it: guided the first time, plain
//! `sam deploy` after, so the secrets the stack holds are never retyped; `GUIDED=1` asks
//! again. `sam` is a stand-in on PATH that records how it was called.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/deploy.sh")
}

/// Runs the script with `samconfig` as its config; answers how `sam` was called.
fn deploy(samconfig: &str, guided: bool) -> String {
    let dir = std::env::temp_dir().join(format!(
        "telepay-deploy-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("sam.log");
    let sam = dir.join("sam");
    std::fs::write(
        &sam,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&sam).status().unwrap();
    let config = dir.join("samconfig.toml");
    std::fs::write(&config, samconfig).unwrap();
    let mut command = Command::new("bash");
    command
        .arg(script())
        .env(
            "PATH",
            format!("{}:{}", dir.display(), std::env::var("PATH").unwrap()),
        )
        .env("SKIP_BUILD", "1")
        .env("SAMCONFIG", &config);
    if guided {
        command.env("GUIDED", "1");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let called = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    called.trim().to_owned()
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

const FIRST_TIME: &str = "version = 0.1\n[default.deploy.parameters]\nregion = \"us-east-1\"\n";
const DEPLOYED: &str = "version = 0.1\n[default.deploy.parameters]\nregion = \"us-east-1\"\nparameter_overrides = \"StoreBackend=\\\"dynamodb\\\"\"\n";

#[test]
fn the_first_deploy_is_guided_and_every_later_one_keeps_the_secrets_without_asking() {
    let first = deploy(FIRST_TIME, false);
    assert!(first.starts_with("deploy --guided"), "{first}");
    let later = deploy(DEPLOYED, false);
    assert!(later.starts_with("deploy --config-file"), "{later}");
    assert!(!later.contains("--guided"), "{later}");
    let again = deploy(DEPLOYED, true);
    assert!(again.starts_with("deploy --guided"), "{again}");
}
