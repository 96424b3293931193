//! `telepay init`: the owner's answers (flags, else the variables, else questions on a
//! terminal), checked live by `telepay_core::setup`, then written: `catalog.json` and the
//! stack's settings in `samconfig.toml` (stack name, region, the non-secret parameters).
//! No secret is written anywhere: the first `make deploy` asks for them and keeps them in
//! Secrets Manager.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};
use telepay_core::directory::Admission;
use telepay_core::setup::{OwnerAnswers, SANDBOX_API_URL, TierAnswer, check_answers};
use telepay_shared::config::{self, Environment, ProcessEnvironment};
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsPayments};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

use crate::args::InitArgs;

/// How answers are asked for: on a terminal, unless told never to.
struct Asker {
    interactive: bool,
}

impl Asker {
    fn text(&self, given: Option<String>, flag: &str, question: &str) -> anyhow::Result<String> {
        if let Some(value) = given.filter(|v| !v.trim().is_empty()) {
            return Ok(value.trim().to_owned());
        }
        if !self.interactive {
            bail!("{flag} is missing (telepay init --help says what it is)");
        }
        let answer = ask(question, false)?;
        if answer.is_empty() {
            bail!("{flag} is needed");
        }
        Ok(answer)
    }

    /// A secret: the flag, else `variable`, else asked without echo.
    fn secret(
        &self,
        given: Option<String>,
        variable: &str,
        flag: &str,
        question: &str,
    ) -> anyhow::Result<String> {
        let given = given.or_else(|| ProcessEnvironment.get(variable));
        if let Some(value) = given.filter(|v| !v.trim().is_empty()) {
            return Ok(value.trim().to_owned());
        }
        if !self.interactive {
            bail!("{flag} (or {variable}) is missing");
        }
        let answer = ask(question, true)?;
        if answer.is_empty() {
            bail!("{flag} is needed");
        }
        Ok(answer)
    }
}

/// One question on the terminal; a secret's answer is not shown while typed.
fn ask(question: &str, secret: bool) -> anyhow::Result<String> {
    print!("{question}: ");
    std::io::stdout().flush()?;
    let stty = |arg: &str| {
        let _ = std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    if secret {
        stty("-echo");
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if secret {
        stty("echo");
        println!();
    }
    read.context("reading the answer")?;
    Ok(line.trim().to_owned())
}

pub(crate) async fn run(args: InitArgs) -> anyhow::Result<()> {
    let asker = Asker {
        interactive: !args.non_interactive && std::io::stdin().is_terminal(),
    };
    let token = asker.secret(
        args.bot_token,
        config::BOT_TOKEN,
        "--bot-token",
        "Bot token (BotFather, /newbot)",
    )?;
    let np_key = asker.secret(
        args.nowpayments_key,
        config::NOWPAYMENTS_API_KEY,
        "--nowpayments-key",
        "NOWPayments API key (dashboard: Settings, Payments, API keys)",
    )?;
    let ipn_secret = asker.secret(
        args.ipn_secret,
        config::IPN_SECRET,
        "--ipn-secret",
        "NOWPayments IPN secret (dashboard: Settings, Payments, Instant payment notifications)",
    )?;
    let channel_id: i64 = asker
        .text(
            args.channel_id.map(|id| id.to_string()),
            "--channel-id",
            "Your private channel's id (-100…)",
        )?
        .parse()
        .context("--channel-id must be the channel's number, -100…")?;
    let title = asker.text(args.title, "--title", "What buyers see it called")?;
    let mut tiers = args.tiers;
    if tiers.is_empty() {
        tiers.push(asker.text(
            None,
            "--tier",
            "A tier, PRICE CURRENCY LENGTH (e.g. 5 usd 30 days)",
        )?);
    }
    let tiers = tiers
        .iter()
        .map(|t| t.parse::<TierAnswer>().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut admission = args.admission;
    let mut alarm_email = args.alarm_email;
    if asker.interactive {
        if admission == "one_time_link"
            && ask(
                "Only the payer may join (links that ask to join, approved by the bot)? [y/N]",
                false,
            )?
            .eq_ignore_ascii_case("y")
        {
            admission = "join_request".to_owned();
        }
        if alarm_email.is_none() {
            alarm_email = Some(ask("Email for the stack's alarms (empty: none)", false)?)
                .filter(|e| !e.is_empty());
        }
    }
    let admission = match admission.as_str() {
        "one_time_link" => Admission::OneTimeLink,
        "join_request" => Admission::JoinRequest,
        other => bail!("--admission is one_time_link or join_request, not {other:?}"),
    };
    let owner_chat_id: i64 = asker
        .text(
            args.owner_chat_id.map(|id| id.to_string()),
            "--owner-chat-id",
            "Your own Telegram user id (an id bot such as @userinfobot tells you)",
        )?
        .parse()
        .context("--owner-chat-id must be your numeric user id")?;
    let answers = OwnerAnswers {
        channel_id,
        title,
        tiers,
        admission,
        owner_chat_id,
        ipn_secret_len: ipn_secret.len(),
        sandbox: args.sandbox,
        alarm_email,
    };

    // Telegram and NOWPayments as the functions reach them (TELEGRAM_API_URL and
    // TELEPAY_NOWPAYMENTS_API_URL point elsewhere, e.g. at the fakes).
    let bot_token = BotToken::new(token).context("the bot token is empty")?;
    let bot = TelegramBotApi::new(
        bot_token,
        ProcessEnvironment.get(config::API_URL).as_deref(),
    )?;
    let np_url = ProcessEnvironment
        .get(config::NOWPAYMENTS_API_URL)
        .or_else(|| args.sandbox.then(|| SANDBOX_API_URL.to_owned()));
    let account = NowPaymentsPayments::new(
        NowPaymentsApiKey::new(np_key).context("the NOWPayments key is empty")?,
        np_url.as_deref(),
    )?;
    let findings = check_answers(&answers, &bot, &account).await;
    let broken = crate::doctor::report(&findings, false)?;
    if broken > 0 {
        bail!("{broken} thing(s) to fix, each named above; nothing was written");
    }

    let catalog = args.dir.join("catalog.json");
    if catalog.exists() && !args.force {
        bail!(
            "{} exists: edit it and run telepay catalog check, or run init again with --force",
            catalog.display()
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    std::fs::write(&catalog, answers.catalog_json())
        .with_context(|| format!("writing {}", catalog.display()))?;
    let samconfig = args.dir.join("samconfig.toml");
    write_settings(
        &samconfig,
        &args.stack_name,
        &args.region,
        &answers.deploy_parameters(),
    )?;
    println!("wrote {} and {}", catalog.display(), samconfig.display());
    println!(
        "next: make deploy. The first deploy asks for the bot token, the NOWPayments key, the IPN secret and a BotWebhookSecret (keep them at hand; they are kept in Secrets Manager, never in a file), then applies catalog.json."
    );
    Ok(())
}

/// Sets the stack's name, region and non-secret parameters in `path` (a SAM config file,
/// created when missing), keeping everything else in it.
fn write_settings(
    path: &Path,
    stack: &str,
    region: &str,
    parameters: &[(&str, String)],
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| "version = 0.1\n".to_owned());
    let quoted = |value: &str| format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""));
    let overrides: Vec<String> = parameters
        .iter()
        .map(|(name, value)| format!("{name}=\"{value}\""))
        .collect();
    let updated = set_keys(
        &text,
        "[default.deploy.parameters]",
        &[
            ("stack_name", quoted(stack)),
            ("region", quoted(region)),
            ("capabilities", quoted("CAPABILITY_IAM")),
            ("resolve_s3", "true".to_owned()),
            ("parameter_overrides", quoted(&overrides.join(" "))),
        ],
    );
    // `sam deploy` reads the stack's name from the global section too.
    let updated = set_keys(
        &updated,
        "[default.global.parameters]",
        &[("stack_name", quoted(stack))],
    );
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}

/// `text` with each key of `section` set (replaced where present, else added at the end
/// of the section; the section added when missing).
fn set_keys(text: &str, section: &str, keys: &[(&str, String)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let start = match lines.iter().position(|l| l.trim() == section) {
        Some(at) => at,
        None => {
            lines.push(String::new());
            lines.push(section.to_owned());
            lines.len() - 1
        }
    };
    for (key, value) in keys {
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with('['))
            .map_or(lines.len(), |at| start + 1 + at);
        let line = format!("{key} = {value}");
        let existing = lines[start + 1..end]
            .iter()
            .position(|l| l.split('=').next().is_some_and(|name| name.trim() == *key));
        match existing {
            Some(at) => lines[start + 1 + at] = line,
            None => {
                // After the section's last non-empty line.
                let mut at = end;
                while at > start + 1 && lines[at - 1].trim().is_empty() {
                    at -= 1;
                }
                lines.insert(at, line);
            }
        }
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_set_in_their_section_and_everything_else_kept() {
        let before = "# ours\nversion = 0.1\n\n[default.global.parameters]\nstack_name = \"old\"\n\n[default.deploy.parameters]\nconfirm_changeset = true\nregion = \"eu-west-1\"\n\n[default.validate.parameters]\nlint = false\n";
        let after = set_keys(
            before,
            "[default.deploy.parameters]",
            &[
                ("region", "\"us-east-1\"".into()),
                ("parameter_overrides", "\"A=\\\"1\\\"\"".into()),
            ],
        );
        assert!(after.contains("# ours\nversion = 0.1"));
        assert!(after.contains(
            "[default.deploy.parameters]\nconfirm_changeset = true\nregion = \"us-east-1\"\nparameter_overrides = \"A=\\\"1\\\"\"\n\n[default.validate.parameters]"
        ), "{after}");
        let fresh = set_keys(
            "version = 0.1\n",
            "[default.deploy.parameters]",
            &[("region", "\"x\"".into())],
        );
        assert_eq!(
            fresh,
            "version = 0.1\n\n[default.deploy.parameters]\nregion = \"x\"\n"
        );
    }
}
