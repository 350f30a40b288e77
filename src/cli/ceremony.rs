//! `seedvault ceremony run | print | show | list`: the walk at the console.
//!
//! The library walks the script ([`seedvault::ceremony`]); this front end
//! is its console: lines on stdout, answers from `--answers` first, then
//! from standard input, passphrases from the answers file's
//! `passphrase_files` or typed without echo. A passphrase is never read
//! from an answer line, never echoed, never logged.

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use secrecy::SecretString;

use super::args::{CeremonyCommand, CeremonyRunArgs};
use super::error::CliError;
use super::passphrase;
use seedvault::ceremony::{self, Answers, Console, Outcome, RunOptions, Script};
use seedvault::crypto::KdfParams;

pub fn run(dir: &Path, cmd: CeremonyCommand) -> Result<(), CliError> {
    match cmd {
        CeremonyCommand::Run(a) => walk(dir, a),
        CeremonyCommand::Print { script, sets } => {
            let s = Script::load(&script, &parse_sets(&sets)?).map_err(script_error)?;
            print!("{}", ceremony::transcript::paper(&s));
            Ok(())
        }
        CeremonyCommand::Show { id, json } => {
            let (c, text, problems) = ceremony::show(dir, &id)?;
            if json {
                super::print_json(&c)?;
            } else {
                print!("{text}");
            }
            if problems.is_empty() {
                return Ok(());
            }
            Err(CliError::tampered(format!(
                "the audit log is broken, so this transcript proves nothing: {}",
                problems.join("; ")
            ))
            .advise("run `seedvault audit verify`"))
        }
        CeremonyCommand::List(a) => {
            let all = ceremony::list(dir)?;
            if a.json {
                return super::print_json(&all);
            }
            if all.is_empty() {
                println!("no ceremony in the log");
            }
            for c in all {
                println!(
                    "{}  {}  {:<11} {:>3} steps {:>2} exceptions  {}",
                    c.ceremony_id,
                    c.started_at,
                    c.outcome.map_or("interrupted", Outcome::as_str),
                    c.steps.len(),
                    c.exceptions.len(),
                    c.title
                );
            }
            Ok(())
        }
    }
}

fn script_error(e: ceremony::ScriptError) -> CliError {
    CliError::refused(e.to_string())
        .advise("fix the script (or the answers file) and run it again; nothing was logged")
}

fn parse_sets(sets: &[String]) -> Result<Vec<(String, String)>, CliError> {
    sets.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| CliError::usage(format!("--set {s:?}: give NAME=VALUE")))
        })
        .collect()
}

/// Lines from the answers file, then from standard input.
struct LineConsole {
    queued: VecDeque<String>,
    answers: Answers,
    stdin_tty: bool,
}

impl Console for LineConsole {
    fn say(&mut self, text: &str) {
        println!("{text}");
        let _ = std::io::stdout().flush();
    }

    fn ask(&mut self, prompt: &str) -> Option<String> {
        print!("{prompt}: ");
        let _ = std::io::stdout().flush();
        let scripted = !self.queued.is_empty() || !self.stdin_tty;
        let line = match self.queued.pop_front() {
            Some(l) => l,
            None => {
                let mut l = String::new();
                match std::io::stdin().lock().read_line(&mut l) {
                    Ok(0) | Err(_) => {
                        println!();
                        return None;
                    }
                    Ok(_) => l,
                }
            }
        };
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if scripted {
            // Scripted: show the answer, as a person's typing would be.
            println!("{line}");
        }
        Some(line)
    }

    fn passphrase(&mut self, custodian: &str, new: bool) -> Result<SecretString, String> {
        if let Some(f) = self.answers.passphrase_files.get(custodian) {
            return passphrase::from_file(f).map_err(|e| e.to_string());
        }
        let what = format!("custodian {custodian}");
        let r = if new {
            passphrase::prompt_new(&what)
        } else {
            passphrase::prompt(&what)
        };
        r.map_err(|e| e.to_string())
    }
}

fn walk(dir: &Path, a: CeremonyRunArgs) -> Result<(), CliError> {
    let script = Script::load(&a.script, &parse_sets(&a.sets)?).map_err(script_error)?;
    let answers = match &a.answers {
        Some(f) => Answers::load(f).map_err(script_error)?,
        None => Answers::default(),
    };
    let mut console = LineConsole {
        queued: answers.lines.iter().cloned().collect(),
        answers,
        stdin_tty: std::io::stdin().is_terminal(),
    };
    let opts = RunOptions {
        vault_dir: dir.to_owned(),
        record_dir: a.record.clone(),
        kdf: if a.insecure_fast_kdf {
            KdfParams::INSECURE_FAST
        } else {
            KdfParams::RFC9106_SECOND
        },
    };
    let out = ceremony::run(&script, &opts, &mut console).map_err(|e| match e {
        ceremony::CeremonyError::Vault(v) => CliError::from(v),
        other => CliError::refused(other.to_string()),
    })?;
    let id = &out.record.ceremony_id;
    match &out.transcript_file {
        Some(f) => eprintln!(
            "transcript: {} ({})",
            f.display(),
            if out.signed {
                "clearsigned by the vault key"
            } else {
                "UNSIGNED: no quorum was held at the end"
            }
        ),
        None => eprintln!("WARNING: no transcript file was written (give --record DIR); `seedvault ceremony show {id}` prints it from the log"),
    }
    if !out.logged {
        eprintln!("WARNING: no vault was made, so nothing of this ceremony is in a log");
    }
    if out.tampering {
        return Err(CliError::tampered(format!(
            "ceremony {id}: a step found the vault's data tampered with (see its exception)"
        ))
        .advise("run `seedvault audit verify` and `seedvault audit replay`"));
    }
    match out.record.outcome {
        Some(Outcome::Aborted) => Err(CliError::refused(format!(
            "ceremony {id} was aborted after {} steps ({} exceptions); it is logged as aborted",
            out.record.steps.len(),
            out.record.exceptions.len()
        ))),
        _ => {
            println!("ceremony {id} {}", Outcome::Completed.as_str());
            Ok(())
        }
    }
}
