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
    let run = run_deploy(samconfig, guided, None);
    assert!(run.success, "{}", run.stderr);
    run.sam
}

/// What a run did: how `sam` and `telepay` were called (one line each), and its stderr.
struct Run {
    success: bool,
    sam: String,
    telepay: String,
    stderr: String,
}

/// `catalog`: a catalog.json to deploy with (`valid` says what the stand-in `telepay
/// catalog check` answers).
fn run_deploy(samconfig: &str, guided: bool, catalog: Option<bool>) -> Run {
    run_deploy_with(samconfig, guided, catalog, true)
}

/// `stack_exists`: whether `sam list stack-outputs` finds the stack.
fn run_deploy_with(
    samconfig: &str,
    guided: bool,
    catalog: Option<bool>,
    stack_exists: bool,
) -> Run {
    let dir = std::env::temp_dir().join(format!(
        "telepay-deploy-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("sam.log");
    let sam = dir.join("sam");
    // `sam list stack-outputs` answers as SAM does: the outputs, with our descriptions.
    std::fs::write(
        &sam,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nif [ \"$1\" = list ] && [ -n \"$FAKE_STACK_MISSING\" ]; then echo 'Error: Stack does not exist' >&2; exit 1; fi\nif [ \"$1\" = list ]; then echo '[{{\"OutputKey\":\"CatalogTable\",\"OutputValue\":\"stack-CatalogTable-1\",\"Description\":\"TELEPAY_CATALOG_TABLE\"}},{{\"OutputKey\":\"WebhookUrl\",\"OutputValue\":\"https://x\",\"Description\":\"Set this as the IPN callback URL\"}}]'; fi\n",
            log.display()
        ),
    )
    .unwrap();
    let telepay_log = dir.join("telepay.log");
    let telepay = dir.join("telepay");
    let check_answer = if catalog == Some(false) { 1 } else { 0 };
    std::fs::write(
        &telepay,
        format!(
            "#!/bin/sh\necho \"$@ table=$TELEPAY_CATALOG_TABLE\" >> {}\nif [ \"$2\" = check ]; then exit {check_answer}; fi\n",
            telepay_log.display()
        ),
    )
    .unwrap();
    for script in [&sam, &telepay] {
        Command::new("chmod")
            .arg("+x")
            .arg(script)
            .status()
            .unwrap();
    }
    let catalog_file = dir.join("catalog.json");
    if catalog.is_some() {
        std::fs::write(&catalog_file, "{}").unwrap();
    }
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
        .env("SAMCONFIG", &config)
        .env("TELEPAY_CATALOG_FILE", &catalog_file)
        .env("TELEPAY_BIN", &telepay);
    if !stack_exists {
        command.env("FAKE_STACK_MISSING", "1");
    }
    if guided {
        command.env("GUIDED", "1");
    }
    let output = command.output().unwrap();
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let run = Run {
        success: output.status.success(),
        sam: read(&log),
        telepay: read(&telepay_log),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    run
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

const FIRST_TIME: &str = "version = 0.1\n[default.deploy.parameters]\nregion = \"us-east-1\"\n";
const DEPLOYED: &str = "version = 0.1\n[default.deploy.parameters]\nstack_name = \"telepay\"\nregion = \"us-east-1\"\nparameter_overrides = \"StoreBackend=\\\"dynamodb\\\"\"\n";

#[test]
fn the_first_deploy_is_guided_and_every_later_one_keeps_the_secrets_without_asking() {
    let first = deploy(FIRST_TIME, false);
    assert!(first.starts_with("deploy --guided"), "{first}");
    let later = deploy(DEPLOYED, false);
    assert!(
        later.lines().any(|l| l.starts_with("deploy --config-file")),
        "{later}"
    );
    assert!(!later.contains("--guided"), "{later}");
    let again = deploy(DEPLOYED, true);
    assert!(again.starts_with("deploy --guided"), "{again}");
}

#[test]
fn settings_written_before_the_stack_exists_still_make_the_first_deploy_guided() {
    // What `telepay init` leaves: parameter_overrides, but no stack yet to hold secrets.
    let run = run_deploy_with(DEPLOYED, false, None, false);
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.sam.lines().any(|l| l.starts_with("deploy --guided")),
        "{}",
        run.sam
    );
}

#[test]
fn the_catalog_is_checked_before_the_deploy_and_applied_after_it_with_the_stacks_table() {
    let run = run_deploy(DEPLOYED, false, Some(true));
    assert!(run.success, "{}", run.stderr);
    let calls: Vec<&str> = run.telepay.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with("catalog check "), "{calls:?}");
    assert!(
        calls[1].starts_with("catalog apply ")
            && calls[1].contains("--note make deploy")
            && calls[1].ends_with("table=stack-CatalogTable-1"),
        "the apply reads the stack's CatalogTable output: {calls:?}"
    );
    assert!(
        run.sam
            .contains("list stack-outputs --stack-name telepay --region us-east-1"),
        "{}",
        run.sam
    );
}

#[test]
fn an_invalid_catalog_stops_the_deploy_before_anything_changes() {
    let run = run_deploy(DEPLOYED, false, Some(false));
    assert!(!run.success);
    assert!(run.sam.is_empty(), "sam was called: {}", run.sam);
    assert!(!run.telepay.contains("apply"), "{}", run.telepay);
}

#[test]
fn without_a_catalog_file_the_deploy_says_how_to_apply_one() {
    let run = run_deploy(DEPLOYED, false, None);
    assert!(run.success, "{}", run.stderr);
    assert!(run.telepay.is_empty(), "{}", run.telepay);
    assert!(
        run.stderr.contains("telepay catalog apply"),
        "{}",
        run.stderr
    );
}
