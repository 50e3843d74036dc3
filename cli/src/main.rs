//! `etcd-v2`: etcdctl's v2 commands (which etcdctl 3.6 dropped) on the etcd-v2
//! library, against etcd v2 clusters and, with `--bridge PREFIX`, over etcd's
//! v3 gateway. Output and exit statuses follow etcdctl v2; where this tool
//! differs on purpose, `--help` and README.md say so.

mod access;
mod admin;
mod args;
mod argv;
mod connect;
mod failure;
mod goint;
mod keys;
mod output;
mod recipes;
mod stdio;
mod terminal;
mod watching;

use clap::{CommandFactory, Parser};

use args::{Cli, Command, MemberAction};
use failure::{Fail, BAD_ARGS, UNKNOWN_COMMAND};

fn main() {
    let split = argv::split(std::env::args().collect());
    let mut cli = match Cli::try_parse_from(&split.args) {
        Ok(cli) => cli,
        Err(e) => std::process::exit(parse_failure(e)),
    };
    cli.global.drop_empty();
    let code = match run(&cli, split.command.as_deref()) {
        Ok(code) => code,
        Err(fail) => {
            stdio::err(&fail.message);
            if !fail.message.ends_with('\n') {
                stdio::err("\n");
            }
            fail.code
        }
    };
    std::process::exit(code);
}

/// Report a command line clap refused; etcdctl's status for an unknown
/// command is 3, for bad arguments 1.
fn parse_failure(e: clap::Error) -> i32 {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        ErrorKind::InvalidSubcommand => {
            let name = match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            crate::stdio::complain!("No help topic for '{name}'");
            UNKNOWN_COMMAND
        }
        _ => {
            let _ = e.print();
            BAD_ARGS
        }
    }
}

/// etcdctl's `help [COMMAND]` (or `h`): the tool's help, or the help of the
/// command named (status 0); for a command that does not exist, etcdctl's
/// "No help topic" on stderr and status 3. Only the first word counts, as in
/// etcdctl (`help member list` shows `member`'s help).
fn help(topic: Option<&str>) -> i32 {
    let mut argv = vec!["etcd-v2"];
    if let Some(name) = topic {
        if Cli::command().find_subcommand(name).is_none() {
            crate::stdio::complain!("No help topic for '{name}'");
            return UNKNOWN_COMMAND;
        }
        argv.push(name);
    }
    argv.push("--help");
    match Cli::try_parse_from(argv) {
        Err(e) => parse_failure(e),
        // `--help` always ends the parse with the help text.
        Ok(_) => 0,
    }
}

/// Print a command's output and return its status.
fn printed(done: keys::Done) -> Result<i32, Fail> {
    let (text, code) = done?;
    stdio::out(&text);
    Ok(code)
}

fn run(cli: &Cli, after_separator: Option<&[String]>) -> Result<i32, Fail> {
    let g = &cli.global;
    let o = g.output;
    if let Command::Completion { shell } = &cli.command {
        let mut command = Cli::command();
        clap_complete::generate(*shell, &mut command, "etcd-v2", &mut std::io::stdout());
        return Ok(0);
    }
    if let Command::Help { topic } = &cli.command {
        return Ok(help(topic.first().map(String::as_str)));
    }
    if let Command::Copy { from, hidden, path } = &cli.command {
        // One password prompt for both clients.
        let mut g = g.clone();
        if let Some(spec) = g.username.as_deref().filter(|s| !s.contains(':')) {
            let (user, password) = connect::credentials(spec, "Password: ")?;
            g.username = Some(format!("{user}:{password}"));
        }
        let g = &g;
        let target = connect::client(g)?;
        let sources: Vec<String> = from.split(',').map(|s| s.trim().to_string()).collect();
        for s in &sources {
            connect::check_url(s)?;
        }
        let source = connect::client_for(g, &sources, None, false)?;
        let path = keys::absolute(path.as_deref().unwrap_or("/"));
        return printed(recipes::copy(&target, &source, &path, hidden));
    }
    // etcdctl's cluster-health lists the members through the endpoints as
    // given (no sync first).
    let sync = !matches!(cli.command, Command::ClusterHealth { .. });
    let client = connect::client_for(g, &connect::endpoints(g)?, g.bridge.as_deref(), sync)?;
    match &cli.command {
        Command::Get { sort, quorum, key } => {
            printed(keys::get(&client, key.as_ref(), *sort, *quorum, o))
        }
        Command::Ls {
            sort,
            recursive,
            slash,
            quorum,
            key,
        } => printed(keys::ls(
            &client,
            key.as_ref(),
            (*sort, *recursive, *slash, *quorum),
            o,
        )),
        Command::Set {
            ttl,
            swap_with_value,
            swap_with_index,
            key,
            value,
        } => printed(keys::set(
            &client,
            (key.as_ref(), value.as_ref()),
            ttl,
            (swap_with_value.as_ref(), *swap_with_index),
            o,
        )),
        Command::Mk {
            in_order,
            ttl,
            key,
            value,
        } => printed(keys::mk(
            &client,
            (key.as_ref(), value.as_ref()),
            *in_order,
            ttl,
            o,
        )),
        Command::Mkdir { ttl, key } => printed(keys::mkdir(&client, key.as_ref(), ttl, o)),
        Command::Setdir { ttl, key } => printed(keys::setdir(&client, key.as_ref(), ttl, o)),
        Command::Update { ttl, key, value } => printed(keys::update(
            &client,
            (key.as_ref(), value.as_ref()),
            ttl,
            o,
        )),
        Command::Updatedir { ttl, key } => printed(keys::updatedir(&client, key.as_ref(), ttl, o)),
        Command::Rm {
            dir,
            recursive,
            with_value,
            with_index,
            key,
        } => printed(keys::rm(
            &client,
            key.as_ref(),
            (*dir, *recursive),
            (with_value.as_ref(), *with_index),
            o,
        )),
        Command::Rmdir { key } => printed(keys::rmdir(&client, key.as_ref(), o)),
        Command::Watch {
            forever,
            after_index,
            recursive,
            key,
        } => watching::watch(
            &client,
            key.as_ref(),
            (*forever, *after_index, *recursive),
            o,
        ),
        Command::ExecWatch {
            after_index,
            recursive,
            args,
        } => {
            let target = watching::key_and_command(args, after_separator)?;
            watching::exec_watch(&client, target, (*after_index, *recursive))
        }
        Command::Member { action } => printed(match action {
            MemberAction::List => admin::list(&client),
            MemberAction::Add { args } => admin::add(&client, args),
            MemberAction::Remove { args } => admin::remove(&client, args),
            MemberAction::Update { args } => admin::update(&client, args),
        }),
        Command::ClusterHealth { forever } => {
            if *forever {
                // etcdctl's cluster-health -f ends with status 0 on Ctrl-C.
                terminal::exit_on_interrupt();
            }
            let members = admin::health_members(&client)?;
            loop {
                let code = printed(admin::cluster_health(&client, &members))?;
                if !forever {
                    return Ok(code);
                }
                crate::stdio::say!("\nnext check after 10 second...\n");
                std::thread::sleep(std::time::Duration::from_secs(10));
            }
        }
        Command::User { action } => printed(access::user(&client, action)),
        Command::Role { action } => printed(access::role(&client, action)),
        Command::Auth { action } => printed(access::auth(&client, action)),
        Command::Lock { ttl, wait, name } => {
            let name = name
                .as_deref()
                .ok_or_else(|| Fail::error(BAD_ARGS, "a lock name is required"))?;
            let wait = wait
                .as_deref()
                .map(|w| connect::go_duration(w, "wait"))
                .transpose()?;
            recipes::lock(&client, name, *ttl, wait, after_separator.unwrap_or(&[]))
        }
        Command::Elect { ttl, key, value } => {
            let (Some(key), Some(value)) = (key, value) else {
                return Err(Fail::error(BAD_ARGS, "a key and a value are required"));
            };
            recipes::elect(&client, key, value, *ttl, after_separator.unwrap_or(&[]))
        }
        Command::Completion { .. } | Command::Copy { .. } | Command::Help { .. } => Ok(0),
    }
}
