//! nsauth-authenticator: the reference phone authenticator on the command line.
//! Run `nsauth-authenticator help`.

use std::path::PathBuf;
use std::process::ExitCode;

use nsauth_authenticator::{
    Authenticator, Link, inbox_from_file, parse_link, parse_login_link, parse_transaction_link,
    printable, return_allowed,
};
use serde_json::{Value, json};

const USAGE: &str = "\
usage: nsauth-authenticator [--file PATH] COMMAND [ARGS]

Keeps one P-256 key per server in a key file (mode 0600): --file, else
$NSAUTH_AUTHENTICATOR_FILE, else $HOME/.nsauth-authenticator.json.
SERVERID may be left out when the file holds exactly one account.

commands:
  enrol LINK [--description D] [--push PLATFORM:TOKEN]
                                   enrol with an enrolment link (new key)
  show LINK                        what a login link's session shows (marks it scanned)
  approve LINK [--match NN] [--userinput TEXT] [--pin PIN]
                                   log in to a login link's session; with a PIN set,
                                   the PIN (or $NSAUTH_AUTHENTICATOR_PIN) verifies the
                                   user and the signed approval says `pin`
  deny LINK [--fraud]              cancel a login link's session
                                   (show, approve and deny with a transaction link
                                   tx/SERVERID/TID are tx-show, tx-approve and tx-decline)
  tx-show LINK|TID [--server SERVERID]
                                   a transaction to confirm: amount, beneficiary and
                                   description (on standard error), and the text to sign
  tx-approve LINK|TID [--server SERVERID] [--pin PIN]
                                   check the transaction's text, print what it says and
                                   sign it with the account key (needs the PIN: servers
                                   take a transaction only from a verified user)
  tx-decline LINK|TID [--server SERVERID]
                                   decline a transaction
  sessions [SERVERID]              this account's sessions
  logout HSID [--server SERVERID]  log a session out
  inapp [--server SERVERID] [--usercontext JSON]
                                   in-app login: prints the new session's nonce
  push PLATFORM TOKEN [--server SERVERID]
                                   set the push token (apns, apns_sandbox or fcm)
  inbox [--server SERVERID] [--file PUSHFILE]
                                   the pushes received (logins, and transactions with
                                   their tid; newest last), each with the link that
                                   show/approve/deny take. Without --file: from
                                   the local stack's push outbox, for the stored push
                                   tokens (`enrol --push` or `push`). With --file: from a
                                   JSON file of one push or an array (an SNS message, an
                                   APNs or FCM payload, or FCM data), e.g. one captured on
                                   a device; this --file follows the command, the key
                                   file's goes before it
  pull [--server SERVERID] [--wait SECONDS]
                                   the login requests pushed to this account, fetched from
                                   the server itself (websites with push_delivery
                                   sns_and_pull or pull; no push service needed); with
                                   --wait, asks every 2 s until one arrives or the time
                                   is up
  transfer [--server SERVERID] [--remove]
                                   moving to a new phone: a single-use enrolment link
                                   (5 minutes) for the new phone's `enrol`, which gets
                                   an account of the same user; --remove: this account
                                   is removed once the new phone has enrolled
  remove [--server SERVERID]       delete the account on the server and forget the key
  set-pin PIN                      set (or change, with --pin OLD) the app's PIN, kept as
                                   a slow hash (PBKDF2-HMAC-SHA256, 600000 rounds)
  clear-pin --pin PIN              remove the PIN
  accounts                         the stored accounts (public keys only)
  help                             this text";

const DEFAULT_DESCRIPTION: &str = "nsauth-authenticator";

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Enrol {
        link: String,
        description: String,
        push: Option<(String, String)>,
    },
    Show {
        link: String,
    },
    Approve {
        link: String,
        match_: Option<String>,
        userinput: Option<String>,
    },
    Deny {
        link: String,
        fraud: bool,
    },
    Tx {
        action: TxAction,
        /// A transaction link, or a tid.
        target: String,
        server: Option<String>,
    },
    Sessions {
        server: Option<String>,
    },
    Logout {
        hsid: String,
        server: Option<String>,
    },
    Inapp {
        server: Option<String>,
        usercontext: Option<Value>,
    },
    Push {
        platform: String,
        token: String,
        server: Option<String>,
    },
    Inbox {
        server: Option<String>,
        file: Option<PathBuf>,
    },
    Remove {
        server: Option<String>,
    },
    Pull {
        server: Option<String>,
        wait: u64,
    },
    Transfer {
        server: Option<String>,
        remove: bool,
    },
    SetPin {
        pin: String,
    },
    ClearPin,
    Accounts,
    Help,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxAction {
    Show,
    Approve,
    Decline,
}

#[derive(Debug, PartialEq, Eq)]
struct Cli {
    file: Option<PathBuf>,
    command: Command,
    /// `--pin` of approve, tx-approve, set-pin and clear-pin.
    pin: Option<String>,
}

/// The arguments after the command name.
struct Args(Vec<String>);

impl Args {
    /// Removes `--name VALUE` (or `--name=VALUE`) and returns VALUE.
    fn option(&mut self, name: &str) -> Result<Option<String>, String> {
        let flag = format!("--{name}");
        let prefix = format!("--{name}=");
        let Some(i) = self
            .0
            .iter()
            .position(|a| *a == flag || a.starts_with(&prefix))
        else {
            return Ok(None);
        };
        let arg = self.0.remove(i);
        let value = if let Some(v) = arg.strip_prefix(&prefix) {
            v.to_string()
        } else if i < self.0.len() {
            self.0.remove(i)
        } else {
            return Err(format!("{flag} needs a value"));
        };
        if self.0.iter().any(|a| *a == flag || a.starts_with(&prefix)) {
            return Err(format!("{flag} is given twice"));
        }
        Ok(Some(value))
    }

    /// Removes `--name` and returns whether it was there.
    fn flag(&mut self, name: &str) -> bool {
        let flag = format!("--{name}");
        let before = self.0.len();
        self.0.retain(|a| *a != flag);
        self.0.len() != before
    }

    /// The remaining positional arguments: exactly `min..=max` of them, no unknown options.
    fn positional(self, min: usize, max: usize, what: &str) -> Result<Vec<String>, String> {
        if let Some(o) = self.0.iter().find(|a| a.starts_with("--")) {
            return Err(format!("unknown option {o}"));
        }
        if self.0.len() < min || self.0.len() > max {
            return Err(format!("expected {what}"));
        }
        Ok(self.0)
    }
}

fn parse_args(mut argv: Vec<String>) -> Result<Cli, String> {
    let mut file = None;
    loop {
        match argv.first().map(String::as_str) {
            Some("--file") if argv.len() >= 2 => {
                file = Some(PathBuf::from(argv.remove(1)));
                argv.remove(0);
            }
            Some("--file") => return Err("--file needs a value".into()),
            Some(a) if a.starts_with("--file=") => {
                file = Some(PathBuf::from(&a["--file=".len()..]));
                argv.remove(0);
            }
            _ => break,
        }
    }
    if argv.is_empty() {
        return Err("a command is missing".into());
    }
    let name = argv.remove(0);
    let mut args = Args(argv);
    let pin = match name.as_str() {
        "approve" | "tx-approve" | "set-pin" | "clear-pin" => args.option("pin")?,
        _ => None,
    };
    let command = match name.as_str() {
        "enrol" => {
            let description = args
                .option("description")?
                .unwrap_or_else(|| DEFAULT_DESCRIPTION.to_string());
            let push = match args.option("push")? {
                None => None,
                Some(p) => {
                    let (platform, token) = p
                        .split_once(':')
                        .filter(|(p, t)| !p.is_empty() && !t.is_empty())
                        .ok_or("--push takes PLATFORM:TOKEN")?;
                    Some((platform.to_string(), token.to_string()))
                }
            };
            let mut p = args.positional(1, 1, "enrol LINK")?;
            Command::Enrol {
                link: p.remove(0),
                description,
                push,
            }
        }
        "show" => {
            let link = args.positional(1, 1, "show LINK")?.remove(0);
            match is_transaction_link(&link) {
                true => tx(TxAction::Show, link),
                false => Command::Show { link },
            }
        }
        "approve" => {
            let match_ = args.option("match")?;
            let userinput = args.option("userinput")?;
            let link = args.positional(1, 1, "approve LINK")?.remove(0);
            if is_transaction_link(&link) {
                if match_.is_some() || userinput.is_some() {
                    return Err("--match and --userinput are for login links".into());
                }
                tx(TxAction::Approve, link)
            } else {
                Command::Approve {
                    link,
                    match_,
                    userinput,
                }
            }
        }
        "deny" => {
            let fraud = args.flag("fraud");
            let link = args.positional(1, 1, "deny LINK")?.remove(0);
            if is_transaction_link(&link) {
                if fraud {
                    return Err("--fraud is for login links".into());
                }
                tx(TxAction::Decline, link)
            } else {
                Command::Deny { link, fraud }
            }
        }
        "tx-show" | "tx-approve" | "tx-decline" => {
            let action = match name.as_str() {
                "tx-show" => TxAction::Show,
                "tx-approve" => TxAction::Approve,
                _ => TxAction::Decline,
            };
            let server = args.option("server")?;
            let target = args
                .positional(1, 1, &format!("{name} LINK|TID"))?
                .remove(0);
            Command::Tx {
                action,
                target,
                server,
            }
        }
        "sessions" => Command::Sessions {
            server: args.positional(0, 1, "sessions [SERVERID]")?.pop(),
        },
        "logout" => {
            let server = args.option("server")?;
            Command::Logout {
                hsid: args.positional(1, 1, "logout HSID")?.remove(0),
                server,
            }
        }
        "inapp" => {
            let server = args.option("server")?;
            let usercontext = match args.option("usercontext")? {
                None => None,
                Some(text) => Some(
                    serde_json::from_str(&text)
                        .map_err(|e| format!("--usercontext is not JSON: {e}"))?,
                ),
            };
            args.positional(0, 0, "inapp takes no positional arguments")?;
            Command::Inapp {
                server,
                usercontext,
            }
        }
        "push" => {
            let server = args.option("server")?;
            let mut p = args.positional(2, 2, "push PLATFORM TOKEN")?;
            Command::Push {
                platform: p.remove(0),
                token: p.remove(0),
                server,
            }
        }
        "inbox" => {
            let server = args.option("server")?;
            let file = args.option("file")?.map(PathBuf::from);
            args.positional(0, 0, "inbox takes no positional arguments")?;
            Command::Inbox { server, file }
        }
        "transfer" => {
            let server = args.option("server")?;
            let remove = args.flag("remove");
            args.positional(0, 0, "transfer takes no positional arguments")?;
            Command::Transfer { server, remove }
        }
        "pull" => {
            let server = args.option("server")?;
            let wait = match args.option("wait")? {
                None => 0,
                Some(w) => w
                    .parse()
                    .ok()
                    .filter(|w| *w <= 3_600)
                    .ok_or("--wait takes 0 to 3600 seconds")?,
            };
            args.positional(0, 0, "pull takes no positional arguments")?;
            Command::Pull { server, wait }
        }
        "remove" => {
            let server = args.option("server")?;
            args.positional(0, 0, "remove takes no positional arguments")?;
            Command::Remove { server }
        }
        "accounts" => {
            args.positional(0, 0, "accounts takes no arguments")?;
            Command::Accounts
        }
        "set-pin" => Command::SetPin {
            pin: args.positional(1, 1, "set-pin PIN")?.remove(0),
        },
        "clear-pin" => {
            args.positional(0, 0, "clear-pin --pin PIN")?;
            Command::ClearPin
        }
        "help" | "--help" | "-h" => Command::Help,
        other => return Err(format!("unknown command {other:?}")),
    };
    Ok(Cli { file, command, pin })
}

/// Where the server's GeoIP database puts the browser and this phone (`browser_location`
/// and `phone_location` of the show answer), for a person to compare; `None` when it put
/// neither.
fn location_note(shown: &Value) -> Option<String> {
    let label = |field: &str| {
        serde_json::from_value::<nsauth_protocol::proximity::Location>(shown[field].clone())
            .ok()?
            .label()
    };
    match (label("browser_location"), label("phone_location")) {
        (None, None) => None,
        (browser, phone) => Some(format!(
            "the browser that asked is near {}; this phone is near {}",
            browser.as_deref().unwrap_or("an unknown place"),
            phone.as_deref().unwrap_or("an unknown place"),
        )),
    }
}

/// What the phone prints before the user decides: where each side is, and the warning of
/// another network.
fn before_deciding(shown: &Value) {
    if let Some(n) = location_note(shown) {
        eprintln!("{n}");
    }
    if let Some(w) = proximity_warning(shown) {
        eprintln!("{w}");
    }
}

/// What the phone says before the user decides, when the server finds it on another
/// network than the browser (`proximity` of the show answer).
fn proximity_warning(shown: &Value) -> Option<&'static str> {
    if shown["proximity"] != "different_network" {
        return None;
    }
    Some(if shown["proximity_required"] == true {
        "warning: this phone is not on the network of the browser that asked, and this website \
         refuses such approvals. If you are not at that computer, someone may be relaying its \
         login page to you: deny."
    } else {
        "warning: this phone is not on the network of the browser that asked. If you did not \
         just scan this code at your own computer, someone may be relaying a login page to \
         you: deny."
    })
}

fn is_transaction_link(link: &str) -> bool {
    matches!(parse_link(link), Ok(Link::Transaction(_)))
}

fn tx(action: TxAction, target: String) -> Command {
    Command::Tx {
        action,
        target,
        server: None,
    }
}

/// The server and tid of `tx-*`'s argument: a transaction link, or a tid of `--server`'s
/// account (or of the only account).
fn tx_target(
    auth: &Authenticator,
    target: &str,
    server: Option<String>,
) -> Result<(String, String), String> {
    if target.contains('/') {
        let link = parse_transaction_link(target).map_err(|e| e.to_string())?;
        if let Some(s) = server.filter(|s| s != link.serverid.as_str()) {
            return Err(format!(
                "the link is for server {}, --server names {s}",
                link.serverid
            ));
        }
        return Ok((link.serverid.to_string(), link.tid.to_string()));
    }
    Ok((pick_server(auth, server)?, target.trim().to_string()))
}

fn default_file() -> Result<PathBuf, String> {
    if let Some(f) = std::env::var_os("NSAUTH_AUTHENTICATOR_FILE").filter(|f| !f.is_empty()) {
        return Ok(PathBuf::from(f));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or("HOME is not set: pass --file or set NSAUTH_AUTHENTICATOR_FILE")?;
    Ok(PathBuf::from(home).join(".nsauth-authenticator.json"))
}

/// The given server id, or the only account's.
fn pick_server(auth: &Authenticator, server: Option<String>) -> Result<String, String> {
    if let Some(s) = server {
        return Ok(s);
    }
    match auth.accounts() {
        [] => Err("the key file has no accounts; enrol first".into()),
        [only] => Ok(only.serverid.to_string()),
        several => Err(format!(
            "the key file has several accounts; name one with --server: {}",
            several
                .iter()
                .map(|a| format!("{} ({})", a.serverid, a.servername))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

async fn run(cli: Cli) -> Result<Value, String> {
    if cli.command == Command::Help {
        println!("{USAGE}");
        return Ok(Value::Null);
    }
    if let Command::Inbox {
        server,
        file: Some(file),
    } = &cli.command
    {
        // A push file needs no key file.
        let pushes = inbox_from_file(file).map_err(|e| e.to_string())?;
        let pushes: Vec<_> = pushes
            .into_iter()
            .filter(|p| server.as_ref().is_none_or(|s| p.serverid == *s))
            .collect();
        return serde_json::to_value(pushes).map_err(|e| e.to_string());
    }
    let path = match cli.file {
        Some(f) => f,
        None => default_file()?,
    };
    let mut auth = Authenticator::open(&path).map_err(|e| e.to_string())?;
    let err = |e: nsauth_authenticator::Error| e.to_string();
    let pin = cli
        .pin
        .or_else(|| std::env::var("NSAUTH_AUTHENTICATOR_PIN").ok())
        .filter(|p| !p.is_empty());
    match cli.command {
        Command::Help => Ok(Value::Null),
        Command::Enrol {
            link,
            description,
            push,
        } => {
            let push = push.as_ref().map(|(p, t)| (p.as_str(), t.as_str()));
            // Shown with the result: the picture the website's enrolment page shows too.
            let vash = nsauth_authenticator::enrolment_vash(&link).map_err(err)?;
            let account = auth.enrol(&link, &description, push).await.map_err(err)?;
            let mut out = account.public_view();
            out["vash"] = serde_json::json!({
                "colour": vash.hex_colour(),
                "pattern": vash.text().lines().collect::<Vec<_>>(),
            });
            Ok(out)
        }
        Command::Show { link } => {
            let shown = auth.show(&link).await.map_err(err)?;
            before_deciding(&shown);
            Ok(shown)
        }
        Command::Approve {
            link,
            match_,
            userinput,
        } => {
            // App-to-app: the link's `return` is followed only when it is on the website's
            // allow-list, which the show answer carries. A rotating code is checked by the
            // show call, so a link with one is shown first too (as a real app always does).
            let parsed = parse_login_link(&link).map_err(err)?;
            let shown = match parsed.code.is_some() || parsed.return_url.is_some() {
                true => {
                    let shown = auth.show(&link).await.map_err(err)?;
                    before_deciding(&shown);
                    Some(shown)
                }
                false => None,
            };
            let back = match (parsed.return_url, shown) {
                (Some(r), Some(shown)) => {
                    let allowed: Vec<String> = shown["return_urls"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|u| u.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    Some((return_allowed(&r, &allowed), r))
                }
                _ => None,
            };
            let answer = auth
                .approve_with(
                    &link,
                    match_.as_deref(),
                    userinput.as_deref(),
                    pin.as_deref(),
                )
                .await
                .map_err(err)?;
            match back {
                Some((true, r)) => eprintln!("app-to-app login: return to {}", printable(&r)),
                Some((false, r)) => eprintln!(
                    "app-to-app login: not returning to {}: it is not on the website's return_urls",
                    printable(&r)
                ),
                None => {}
            }
            Ok(answer)
        }
        Command::Deny { link, fraud } => auth.deny(&link, fraud).await.map_err(err),
        Command::Tx {
            action,
            target,
            server,
        } => {
            let (serverid, tid) = tx_target(&auth, &target, server)?;
            if action == TxAction::Decline {
                // No check first: a transaction that does not check out is declined too.
                let answer = auth
                    .decline_transaction(&serverid, &tid)
                    .await
                    .map_err(err)?;
                eprintln!("transaction {tid}: {}", answer.state.as_str());
                return Ok(json!({"tid": tid, "state": answer.state}));
            }
            let t = auth.transaction(&serverid, &tid).await.map_err(err)?;
            // Standard error: what the person confirms, before anything is signed.
            eprintln!("{}", t.summary());
            if action == TxAction::Show {
                return Ok(t.view());
            }
            let answer = auth
                .approve_transaction(&t, pin.as_deref())
                .await
                .map_err(err)?;
            eprintln!(
                "transaction {tid}: {}, signed with the key of account {}",
                answer.state.as_str(),
                t.signed.accountid
            );
            let signature = auth
                .transaction_signature(&serverid, &t.shown.signed)
                .map_err(err)?;
            Ok(json!({
                "tid": tid,
                "state": answer.state,
                "signature": signature,
                "signed": t.shown.signed,
            }))
        }
        Command::Sessions { server } => {
            let server = pick_server(&auth, server)?;
            auth.sessions(&server).await.map_err(err)
        }
        Command::Logout { hsid, server } => {
            let server = pick_server(&auth, server)?;
            auth.logout(&server, &hsid).await.map_err(err)
        }
        Command::Inapp {
            server,
            usercontext,
        } => {
            let server = pick_server(&auth, server)?;
            let nonce = auth.inapp(&server, usercontext).await.map_err(err)?;
            Ok(json!({ "nonce": nonce }))
        }
        Command::Push {
            platform,
            token,
            server,
        } => {
            let server = pick_server(&auth, server)?;
            auth.set_push(&server, &platform, &token).await.map_err(err)
        }
        Command::Inbox { server, .. } => {
            let pushes = auth.inbox(server.as_deref()).await.map_err(err)?;
            serde_json::to_value(pushes).map_err(|e| e.to_string())
        }
        Command::Transfer { server, remove } => {
            let server = pick_server(&auth, server)?;
            let answer = auth.transfer(&server, remove).await.map_err(err)?;
            if let Some(link) = answer["link"].as_str() {
                eprintln!("on the new phone: enrol {link}");
            }
            Ok(answer)
        }
        Command::Pull { server, wait } => {
            let server = pick_server(&auth, server)?;
            let until = std::time::Instant::now() + std::time::Duration::from_secs(wait);
            loop {
                let pushes = auth.fetch_pushes(&server).await.map_err(err)?;
                if !pushes.is_empty() || std::time::Instant::now() >= until {
                    return serde_json::to_value(pushes).map_err(|e| e.to_string());
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
        Command::Remove { server } => {
            let server = pick_server(&auth, server)?;
            auth.remove_account(&server).await.map_err(err)
        }
        Command::SetPin { pin: new } => {
            if auth.has_pin() {
                auth.verify_user(pin.as_deref()).map_err(err)?;
            }
            auth.set_pin(&new).map_err(err)?;
            Ok(json!({"pin": true}))
        }
        Command::ClearPin => {
            auth.clear_pin(pin.as_deref().unwrap_or_default())
                .map_err(err)?;
            Ok(json!({"pin": false}))
        }
        Command::Accounts => Ok(Value::Array(
            auth.accounts().iter().map(|a| a.public_view()).collect(),
        )),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match parse_args(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}\n\n{USAGE}", printable(&e));
            return ExitCode::FAILURE;
        }
    };
    match run(cli).await {
        Ok(Value::Null) => ExitCode::SUCCESS,
        Ok(v) => {
            // JSON escapes C0 controls in strings, not DEL or the C1 controls (some terminals
            // take U+009B as an escape): those become U+FFFD, line by line.
            let text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string());
            for line in text.lines() {
                println!("{}", printable(line));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            // A server's message or a link may carry escape sequences: not to the terminal.
            eprintln!("error: {}", printable(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        parse_args(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn parses_commands() {
        let c = parse(&[
            "--file",
            "/tmp/k.json",
            "enrol",
            "--push",
            "fcm:tok:en",
            "LINK",
            "--description=My phone",
        ])
        .unwrap();
        assert_eq!(c.file, Some(PathBuf::from("/tmp/k.json")));
        assert_eq!(
            c.command,
            Command::Enrol {
                link: "LINK".into(),
                description: "My phone".into(),
                push: Some(("fcm".into(), "tok:en".into())),
            }
        );
        let c = parse(&["enrol", "LINK"]).unwrap();
        assert_eq!(c.file, None);
        assert!(
            matches!(c.command, Command::Enrol { description, push: None, .. }
            if description == DEFAULT_DESCRIPTION)
        );
        assert_eq!(
            parse(&["approve", "L", "--match", "42"]).unwrap().command,
            Command::Approve {
                link: "L".into(),
                match_: Some("42".into()),
                userinput: None
            }
        );
        assert_eq!(
            parse(&["deny", "--fraud", "L"]).unwrap().command,
            Command::Deny {
                link: "L".into(),
                fraud: true
            }
        );
        assert_eq!(
            parse(&["sessions"]).unwrap().command,
            Command::Sessions { server: None }
        );
        assert_eq!(
            parse(&["logout", "H", "--server", "S"]).unwrap().command,
            Command::Logout {
                hsid: "H".into(),
                server: Some("S".into())
            }
        );
        assert_eq!(
            parse(&["inapp", "--usercontext", r#"{"a":1}"#])
                .unwrap()
                .command,
            Command::Inapp {
                server: None,
                usercontext: Some(json!({"a": 1}))
            }
        );
        assert_eq!(
            parse(&["push", "apns", "T"]).unwrap().command,
            Command::Push {
                platform: "apns".into(),
                token: "T".into(),
                server: None
            }
        );
        assert_eq!(
            parse(&["remove"]).unwrap().command,
            Command::Remove { server: None }
        );
        assert_eq!(
            parse(&["inbox"]).unwrap().command,
            Command::Inbox {
                server: None,
                file: None
            }
        );
        let c = parse(&[
            "--file",
            "k.json",
            "inbox",
            "--file=p.json",
            "--server",
            "S",
        ])
        .unwrap();
        assert_eq!(c.file, Some(PathBuf::from("k.json")));
        assert_eq!(
            c.command,
            Command::Inbox {
                server: Some("S".into()),
                file: Some(PathBuf::from("p.json"))
            }
        );
        assert_eq!(parse(&["accounts"]).unwrap().command, Command::Accounts);
        let tid = "5KvIv6Y0y8IgLQULP8ZR_QABAgMEBQYHCAkKCwwNDg8";
        let link = format!("nsauth://tx/AAECAwQFBgcICQoLDA0ODw/{tid}");
        for (args, action, server) in [
            (vec!["tx-show", tid], TxAction::Show, None),
            (
                vec!["tx-approve", tid, "--server", "S"],
                TxAction::Approve,
                Some("S"),
            ),
            (vec!["tx-decline", &link], TxAction::Decline, None),
            (vec!["show", &link], TxAction::Show, None),
            (vec!["approve", &link], TxAction::Approve, None),
            (vec!["deny", &link], TxAction::Decline, None),
        ] {
            let target = if args.contains(&tid) { tid } else { &link };
            assert_eq!(
                parse(&args).unwrap().command,
                Command::Tx {
                    action,
                    target: target.to_string(),
                    server: server.map(String::from)
                },
                "{args:?}"
            );
        }
        assert_eq!(parse(&["help"]).unwrap().command, Command::Help);
    }

    #[test]
    fn parses_the_pin() {
        let c = parse(&["approve", "L", "--pin", "2468"]).unwrap();
        assert_eq!(c.pin.as_deref(), Some("2468"));
        let c = parse(&["set-pin", "1357", "--pin=2468"]).unwrap();
        assert_eq!(
            (c.command, c.pin.as_deref()),
            (Command::SetPin { pin: "1357".into() }, Some("2468"))
        );
        assert_eq!(
            parse(&["clear-pin", "--pin", "1"]).unwrap().command,
            Command::ClearPin
        );
        // Only the commands that verify the user take it.
        assert!(parse(&["deny", "L", "--pin", "1"]).is_err());
        assert!(parse(&["set-pin"]).is_err());
    }

    #[test]
    fn warns_of_another_network() {
        assert_eq!(
            proximity_warning(&json!({"proximity": "same_network"})),
            None
        );
        assert_eq!(proximity_warning(&json!({})), None);
        let warn = proximity_warning(&json!({"proximity": "different_network"})).unwrap();
        assert!(
            warn.contains("relaying") && !warn.contains("refuses"),
            "{warn}"
        );
        let refused = proximity_warning(
            &json!({"proximity": "different_network", "proximity_required": true}),
        )
        .unwrap();
        assert!(refused.contains("refuses"), "{refused}");
    }

    #[test]
    fn names_where_each_side_is() {
        assert_eq!(location_note(&json!({"proximity": "unknown"})), None);
        let both = location_note(&json!({
            "browser_location": {"country": "NG", "country_name": "Nigeria", "city": "Lagos"},
            "phone_location": {"country": "DE", "country_name": "Germany", "region": "Berlin", "city": "Berlin"},
        }));
        assert_eq!(
            both.as_deref(),
            Some(
                "the browser that asked is near Lagos, Nigeria; this phone is near Berlin, Germany"
            )
        );
        let one = location_note(&json!({"phone_location": {"country": "FR"}})).unwrap();
        assert!(
            one.contains("near an unknown place; this phone is near FR"),
            "{one}"
        );
    }

    #[test]
    fn refuses_bad_arguments() {
        for (args, expect) in [
            (&[][..], "command is missing"),
            (&["--file"][..], "--file needs a value"),
            (&["frobnicate"][..], "unknown command"),
            (&["enrol"][..], "expected enrol LINK"),
            (&["enrol", "L", "M"][..], "expected enrol LINK"),
            (&["enrol", "L", "--push", "fcm"][..], "PLATFORM:TOKEN"),
            (&["enrol", "L", "--description"][..], "needs a value"),
            (
                &["approve", "L", "--match", "1", "--match", "2"][..],
                "twice",
            ),
            (&["deny", "L", "--fraudulent"][..], "unknown option"),
            (&["sessions", "A", "B"][..], "expected sessions"),
            (&["push", "apns"][..], "expected push"),
            (&["inapp", "--usercontext", "{"][..], "not JSON"),
            (&["accounts", "x"][..], "no arguments"),
            (&["inbox", "S"][..], "no positional"),
            (&["inbox", "--file"][..], "needs a value"),
            (&["tx-show"][..], "expected tx-show LINK|TID"),
            (
                &["tx-approve", "a", "b"][..],
                "expected tx-approve LINK|TID",
            ),
            (&["tx-decline", "T", "--fraud"][..], "unknown option"),
            (
                &[
                    "approve",
                    "nsauth://tx/AAECAwQFBgcICQoLDA0ODw/5KvIv6Y0y8IgLQULP8ZR_QABAgMEBQYHCAkKCwwNDg8",
                    "--match",
                    "12",
                ][..],
                "for login links",
            ),
            (
                &[
                    "deny",
                    "--fraud",
                    "nsauth://tx/AAECAwQFBgcICQoLDA0ODw/5KvIv6Y0y8IgLQULP8ZR_QABAgMEBQYHCAkKCwwNDg8",
                ][..],
                "for login links",
            ),
        ] {
            let e = parse(args).unwrap_err();
            assert!(e.contains(expect), "{args:?}: {e}");
        }
    }
}
