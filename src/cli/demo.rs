//! `seedvault demo`: the whole flow on a fresh demo vault, narrated.
//!
//! Everything a first-time user should see, in the order the vendor's
//! process runs it: a 2-of-3 key ceremony, a factory batch, an order, a
//! customer's seed request, a second officer's approval, the export to a
//! (demo) medium, and the audit log verified. The demo uses the production
//! Argon2id parameters; its passphrases are printed and saved beside the
//! cards because it is a demo.
//!
//! It also leaves work for the console, so that the README's main command
//! (the demo, then `tui --media demo/media`) opens on a vault with
//! something to do: a second factory batch waiting on the demo medium (for
//! `i`), a request approved and waiting for export (for `e`), and one
//! waiting for a second officer's approval (for `a`).

use std::fs;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::args::DemoArgs;
use super::error::CliError;
use super::inspect::render_status;
use seedvault::cards::SealedCard;
use seedvault::crypto::{self, KdfParams};
use seedvault::formats::{self, Format, ReadOptions, WriteOptions};
use seedvault::pgp;
use seedvault::token::{Seed, Serial, Token, TokenParams};
use seedvault::vault::{self, IngestSource, InitParams, NewRequest, Vault};

/// The demo custodians and their passphrases (printed: this is a demo).
const CUSTODIANS: [(&str, &str); 3] = [
    ("alice", "alice-demo-passphrase"),
    ("bob", "bob-demo-passphrase"),
    ("carol", "carol-demo-passphrase"),
];
const TOKENS: u64 = 20;
const FIRST_SERIAL: u64 = 60_100_000;
const ORDER: &str = "4711";
/// The order whose approved request waits for an export in the console.
const ORDER_TO_EXPORT: &str = "4712";
/// The order whose request waits for a second officer in the console.
const ORDER_TO_APPROVE: &str = "4713";
/// The factory batch left on the demo medium for the console's ingest wizard.
const WAITING_BATCH: &str = "factory-batch-0002.csv";
const CUSTOMER_EMAIL: &str = "it@customer.example";

fn fail(path: &Path) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |e| CliError::refused(format!("{}: {e}", path.display()))
}

fn pass(name: &str) -> SecretString {
    let p = CUSTODIANS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
        .unwrap_or_default();
    SecretString::from(p.to_owned())
}

fn card(cards: &Path, name: &str) -> Result<(SealedCard, SecretString), CliError> {
    Ok((
        SealedCard::read(&cards.join(format!("{name}.card")))?,
        pass(name),
    ))
}

/// A factory batch of [`TOKENS`] tokens from serial `first`, with fresh
/// random seeds, as a factory would send it.
fn factory_batch(path: &Path, first: u64) -> Result<(), CliError> {
    let mut tokens = Vec::new();
    for i in 0..TOKENS {
        let seed: [u8; 20] =
            crypto::random::array().map_err(|e| CliError::refused(e.to_string()))?;
        tokens.push(Token {
            serial: Serial::parse(&(first + i).to_string())
                .map_err(|e| CliError::refused(e.to_string()))?,
            seed: Seed::new(seed.to_vec()).map_err(|e| CliError::refused(e.to_string()))?,
            params: TokenParams {
                manufacturer: Some("Token2".into()),
                model: Some("C202".into()),
                ..TokenParams::default()
            },
        });
    }
    let mut out = Vec::new();
    formats::write(
        Format::AzureCsv,
        &mut tokens.iter(),
        &mut out,
        &WriteOptions::default(),
    )
    .map_err(|e| CliError::refused(e.to_string()))?;
    fs::write(path, out).map_err(fail(path))
}

/// The file that marks a directory as one `demo` made. Its first line is
/// [`MARKER_LINE`]; a second line `complete VAULT_ID` is added when the
/// demo finished.
const MARKER: &str = ".seedvault-demo";
const MARKER_LINE: &str =
    "seedvault demo directory: `seedvault demo --fresh` may delete what it made here";
/// The subdirectories a demo makes, and the only ones `--fresh` deletes.
const SUBDIRS: [&str; 6] = [
    "vault",
    "cards",
    "passphrases",
    "factory",
    "customer",
    "media",
];

/// What is in the `--dir` directory before the demo runs.
enum Found {
    /// Nothing (missing or empty): build here.
    Nothing,
    /// A demo that ran to the end: its vault id.
    Complete(String),
    /// A demo that was interrupted.
    Incomplete,
    /// Something that is not a demo's: never touched.
    Foreign,
}

fn inspect(root: &Path) -> Found {
    let marker = root.join(MARKER);
    if let Ok(text) = fs::read_to_string(&marker) {
        let mut lines = text.lines();
        if lines.next() == Some(MARKER_LINE) {
            return match lines.next().and_then(|l| l.strip_prefix("complete ")) {
                Some(id) if root.join("vault").join(seedvault::store::DB_FILE).is_file() => {
                    Found::Complete(id.trim().to_owned())
                }
                _ => Found::Incomplete,
            };
        }
        return Found::Foreign;
    }
    match fs::read_dir(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Nothing,
        Ok(mut d) => match d.next() {
            None => Found::Nothing,
            Some(_) => Found::Foreign,
        },
        Err(_) => Found::Foreign,
    }
}

/// Removes what an earlier demo made in `root` (its subdirectories and
/// marker), nothing else.
fn remove_old_demo(root: &Path) -> Result<(), CliError> {
    for d in SUBDIRS {
        let p = root.join(d);
        // remove_dir_all removes a symbolic link itself, never its target.
        match fs::remove_dir_all(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(&p)(e)),
            _ => {}
        }
    }
    let m = root.join(MARKER);
    fs::remove_file(&m).map_err(fail(&m))
}

/// A second run on a finished demo: show it again, change nothing.
fn reuse(root: &Path, vault_id: &str) -> Result<(), CliError> {
    let vault_dir = root.join("vault");
    println!(
        "{} holds the demo built earlier (vault {vault_id}); reusing it.",
        root.display()
    );
    println!(
        "   (`seedvault demo --fresh --dir {}` builds a new one)\n",
        root.display()
    );
    let vault = Vault::open(&vault_dir)?;
    print!("{}", render_status(&vault.status()?));
    print_tui_hint(root);
    Ok(())
}

fn print_tui_hint(root: &Path) {
    let v = root.join("vault");
    let media = root.join("media");
    println!(
        "\nOpen the terminal UI on this vault, with {} as its removable medium:",
        media.display()
    );
    println!(
        "   cargo run -q -- --vault {} tui --media {}",
        v.display(),
        media.display()
    );
    println!(
        "   (or: seedvault --vault {} tui --media {})",
        v.display(),
        media.display()
    );
    println!("Try this:");
    println!(
        "   u  unseal: Space on alice, Down, Space on bob, Enter, then their passphrases (in {})",
        root.join("passphrases").display()
    );
    println!("   i  ingest the batch waiting on the medium: Tab, Enter (check), Enter (seal)");
    println!(
        "   e  export approved request R0002 to the medium (Enter, Enter, Enter); a second officer approves pending R0003 with a (Requests screen)"
    );
}

pub fn run(a: DemoArgs) -> Result<(), CliError> {
    let root = a.dir;
    match inspect(&root) {
        Found::Nothing => {}
        Found::Complete(id) if !a.fresh => return reuse(&root, &id),
        Found::Complete(_) | Found::Incomplete => remove_old_demo(&root)?,
        Found::Foreign => {
            return Err(CliError::refused(format!(
                "{} exists, is not empty and was not made by `seedvault demo`; nothing was changed",
                root.display()
            ))
            .advise("choose another --dir (the demo only ever deletes a directory it made)"))
        }
    }
    fs::create_dir_all(&root).map_err(fail(&root))?;
    let marker = root.join(MARKER);
    fs::write(&marker, format!("{MARKER_LINE}\n")).map_err(fail(&marker))?;
    let dirs: Vec<PathBuf> = SUBDIRS.iter().map(|d| root.join(d)).collect();
    for d in &dirs[2..] {
        fs::create_dir_all(d).map_err(fail(d))?;
    }
    let (vault_dir, cards, pass_dir, factory, customer, media) =
        (&dirs[0], &dirs[1], &dirs[2], &dirs[3], &dirs[4], &dirs[5]);

    println!("== 1. Key ceremony: master key split 2 of 3 (alice, bob, carol)");
    for (name, p) in CUSTODIANS {
        let f = pass_dir.join(format!("{name}.txt"));
        fs::write(&f, format!("{p}\n")).map_err(fail(&f))?;
        println!("   {name:<6} passphrase {p:?}  (saved in {})", f.display());
    }
    let outcome = vault::init(
        vault_dir,
        InitParams {
            threshold: 2,
            custodians: CUSTODIANS.iter().map(|(n, _)| n.to_string()).collect(),
            passphrases: CUSTODIANS.iter().map(|(n, _)| pass(n)).collect(),
            kdf: KdfParams::RFC9106_SECOND,
            approval_ttl_s: vault::DEFAULT_APPROVAL_TTL_S,
            cards_out: cards.clone(),
        },
    )?;
    println!(
        "   vault {} in {}; cards and vault-cert.asc in {}",
        outcome.vault_id,
        vault_dir.display(),
        cards.display()
    );

    println!("\n== 2. A factory batch arrives: {TOKENS} tokens in Azure CSV");
    let batch = factory.join("batch-0001.csv");
    factory_batch(&batch, FIRST_SERIAL)?;
    let quorum = vec![card(cards, "alice")?, card(cards, "bob")?];
    let mut unsealed = Vault::open(vault_dir)?.unseal(quorum, "ingest")?;
    let r = unsealed.ingest(&IngestSource {
        path: &batch,
        format: None,
        label: Some("demo factory shipment".into()),
        factory_cert: None,
        read_options: &ReadOptions::default(),
    })?;
    println!(
        "   alice + bob unsealed the vault; batch {} ingested: {} tokens ({})",
        r.batch_id, r.count, r.format
    );
    println!(
        "   (the plain file {} would now be wiped from the factory medium)",
        batch.display()
    );
    let (mut vault, checkpoint) = unsealed.finish();
    checkpoint?;

    println!("\n== 3. Order {ORDER}: Customer Example Ltd bought 10 tokens");
    let (c, p) = card(cards, "carol")?;
    let carol = vault.authenticate(&c, &p, "order add")?;
    vault.add_order(
        ORDER,
        "Customer Example Ltd",
        &[CUSTOMER_EMAIL.to_owned()],
        &carol,
    )?;
    let shipped: Vec<Serial> = (FIRST_SERIAL..FIRST_SERIAL + 10)
        .filter_map(|s| Serial::parse(&s.to_string()).ok())
        .collect();
    vault.assign_serials(ORDER, &shipped, &carol)?;
    println!("   carol recorded the order, {CUSTOMER_EMAIL} as its authorized requester, and serials {}..{}", FIRST_SERIAL, FIRST_SERIAL + 9);

    println!("\n== 4. The customer asks for the seeds and sends an OpenPGP key");
    let customer_key = pgp::keys::generate_customer_key(&format!("Customer IT <{CUSTOMER_EMAIL}>"))
        .map_err(|e| CliError::refused(e.to_string()))?;
    let public = customer.join("customer-cert.asc");
    let secret = customer.join("customer-secret-key.asc");
    fs::write(
        &public,
        customer_key
            .public_armored()
            .map_err(|e| CliError::refused(e.to_string()))?,
    )
    .map_err(fail(&public))?;
    let sk =
        pgp::keys::secret_armored(&customer_key).map_err(|e| CliError::refused(e.to_string()))?;
    fs::write(&secret, sk.as_bytes()).map_err(fail(&secret))?;
    let cert_bytes = fs::read(&public).map_err(fail(&public))?;
    let created = vault.create_request(
        NewRequest {
            order_id: ORDER,
            requester: CUSTOMER_EMAIL,
            recipient_key: &cert_bytes,
            format: Format::AzureCsv,
            serials: None,
            reexport_reason: None,
            upns: None,
        },
        &carol,
    )?;
    println!(
        "   carol created request {} for {} serials to key {}",
        created.id, created.serials, created.recipient_fingerprint
    );

    println!("\n== 5. Two-person rule: bob approves (carol could not approve her own request)");
    let (c, p) = card(cards, "bob")?;
    let bob = vault.authenticate(&c, &p, "request approve")?;
    vault.decide_request(&created.id, true, None, &bob)?;
    println!(
        "   bob approved {}; the approval is valid for 24 h",
        created.id
    );

    println!("\n== 5b. Work left for the console");
    let waiting = media.join(WAITING_BATCH);
    factory_batch(&waiting, FIRST_SERIAL + TOKENS)?;
    println!(
        "   a second factory batch ({TOKENS} tokens) waits on the medium: {}",
        waiting.display()
    );
    let mut console_requests = Vec::new();
    for (order, from) in [(ORDER_TO_EXPORT, 10), (ORDER_TO_APPROVE, 15)] {
        vault.add_order(
            order,
            "Customer Example Ltd",
            &[CUSTOMER_EMAIL.to_owned()],
            &carol,
        )?;
        let serials: Vec<Serial> = (FIRST_SERIAL + from..FIRST_SERIAL + from + 5)
            .filter_map(|s| Serial::parse(&s.to_string()).ok())
            .collect();
        vault.assign_serials(order, &serials, &carol)?;
        let req = vault.create_request(
            NewRequest {
                order_id: order,
                requester: CUSTOMER_EMAIL,
                recipient_key: &cert_bytes,
                format: Format::AzureCsv,
                serials: None,
                reexport_reason: None,
                upns: None,
            },
            &carol,
        )?;
        console_requests.push(req.id);
    }
    if let Some(id) = console_requests.first() {
        vault.decide_request(id, true, None, &bob)?;
        println!("   order {ORDER_TO_EXPORT}: request {id} by carol, approved by bob, waits for export (e)");
    }
    if let Some(id) = console_requests.get(1) {
        println!(
            "   order {ORDER_TO_APPROVE}: request {id} by carol waits for a second officer (a)"
        );
    }

    println!("\n== 6. Export to the customer's medium");
    let quorum = vec![card(cards, "bob")?, card(cards, "carol")?];
    let mut unsealed = vault.unseal(quorum, "export")?;
    let out = unsealed.export(&created.id, media)?;
    println!(
        "   bundle   {} (encrypted to the customer, signed by the vault)",
        out.bundle.display()
    );
    println!("   manifest {} (clearsigned)", out.manifest.display());
    let (vault, checkpoint) = unsealed.finish();
    checkpoint?;

    println!("\n== 7. The audit log");
    let report = vault.verify_audit()?;
    println!(
        "   {} entries, chain {}, head {}",
        report.entries,
        if report.problems.is_empty() {
            "intact"
        } else {
            "TAMPERED"
        },
        report.head.hash_hex()
    );
    println!("\n== Status");
    print!("{}", render_status(&vault.status()?));

    println!("\nThe customer opens the bundle with GnuPG:");
    println!("   export GNUPGHOME=$(mktemp -d)");
    println!(
        "   gpg --import {} {}/vault-cert.asc",
        secret.display(),
        cards.display()
    );
    println!("   gpg --decrypt {}", out.bundle.display());
    println!("   gpg --verify {}", out.manifest.display());
    print_tui_hint(&root);
    fs::write(
        &marker,
        format!("{MARKER_LINE}\ncomplete {}\n", outcome.vault_id),
    )
    .map_err(fail(&marker))?;
    Ok(())
}
