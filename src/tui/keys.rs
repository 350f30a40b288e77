//! The keybindings, as data. `update` never looks at keys; the help
//! overlay is generated from this table, so it cannot drift from what the
//! keys do. A key is looked up in the contexts active on screen, innermost
//! first; in a text field any other printable character is typed.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{ActKey, Action};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Always, even in text fields.
    Always,
    /// The main screen (tabs), when no dialog is open.
    Main,
    /// The audit log tab.
    Audit,
    /// An audit entry opened with Enter.
    Entry,
    /// A one-line prompt (audit filter, a medium's directory).
    Prompt,
    /// A confirmation dialog.
    Confirm,
    /// The unseal dialog, whatever has focus.
    Dialog,
    /// The unseal dialog's card list.
    CardList,
    /// A text field (prompts, card directory, passphrase).
    TextField,
    /// The help overlay.
    Help,
    /// The ingest wizard or export dialog, whatever has focus.
    Act,
    /// A list in the ingest wizard or export dialog (files, media, requests).
    ActList,
    /// A report or summary waiting for confirmation.
    ActConfirm,
    /// Ingest or export opened while the vault is sealed.
    ActSealed,
    /// The Batches and serials tab.
    Batches,
    /// The Orders tab.
    Orders,
    /// The Requests tab.
    Requests,
    /// A form of an officer's act (with `TextField`).
    Form,
    /// A confirmation or result panel of an officer's act.
    ActPanel,
    /// The officer card dialog's card list.
    OfficerCards,
}

impl Context {
    /// Heading in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Context::Always => "Everywhere",
            Context::Main => "Every screen",
            Context::Audit => "Audit log",
            Context::Entry => "Audit entry",
            Context::Prompt => "Prompt",
            Context::Confirm => "Confirmation",
            Context::Dialog => "Unseal dialog",
            Context::CardList => "Unseal: card list",
            Context::TextField => "Text field",
            Context::Help => "This help",
            Context::Act | Context::ActList | Context::ActConfirm | Context::ActSealed => {
                "Ingest wizard, export dialog"
            }
            Context::Batches => "Batches and serials",
            Context::Orders => "Orders",
            Context::Requests => "Requests",
            Context::Form => "Forms (orders, requests, void)",
            Context::ActPanel => "Confirmations and results",
            Context::OfficerCards => "Officer card dialog",
        }
    }
}

/// One binding.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Where.
    pub context: Context,
    /// The key.
    pub code: KeyCode,
    /// Modifiers that must be held (Shift is ignored for characters).
    pub mods: KeyModifiers,
    /// What it does.
    pub action: Action,
    /// The key as shown in help.
    pub label: &'static str,
    /// What it does, for help.
    pub help: &'static str,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

const fn b(
    context: Context,
    code: KeyCode,
    mods: KeyModifiers,
    action: Action,
    label: &'static str,
    help: &'static str,
) -> Binding {
    Binding {
        context,
        code,
        mods,
        action,
        label,
        help,
    }
}

use Context::*;
use KeyCode::*;

/// Every binding, in the order help lists them (a table: one line each).
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    b(Always, Char('c'), CTRL, Action::ForceQuit, "Ctrl-C", "seal and quit at once"),
    b(Always, F(1), NONE, Action::ToggleHelp, "F1", "help for what has the keyboard"),
    b(Main, Char('q'), NONE, Action::Quit, "q", "seal and quit (asks while unsealed)"),
    b(Main, Esc, NONE, Action::Back, "Esc", "back / cancel (never quits)"),
    b(Main, Char('?'), NONE, Action::ToggleHelp, "?", "help for this screen"),
    b(Main, Tab, NONE, Action::NextTab, "Tab", "next screen"),
    b(Main, BackTab, NONE, Action::PrevTab, "Shift-Tab", "previous screen"),
    b(Main, Char('1'), NONE, Action::GotoTab(0), "1", "Overview"),
    b(Main, Char('2'), NONE, Action::GotoTab(1), "2", "Batches and serials"),
    b(Main, Char('3'), NONE, Action::GotoTab(2), "3", "Orders"),
    b(Main, Char('4'), NONE, Action::GotoTab(3), "4", "Requests"),
    b(Main, Char('5'), NONE, Action::GotoTab(4), "5", "Audit log"),
    b(Main, Char('u'), NONE, Action::OpenUnseal, "u", "unseal: present a quorum of cards"),
    b(Main, Char('s'), NONE, Action::Seal, "s", "seal now (wipes the key)"),
    b(Main, Char('r'), NONE, Action::Refresh, "r", "re-read (also every few seconds)"),
    b(Main, Char('i'), NONE, Action::OpenIngest, "i", "ingest a factory batch"),
    b(Main, Char('e'), NONE, Action::OpenExport, "e", "export an approved request"),
    b(Audit, Up, NONE, Action::Up, "Up/k", "previous entry"),
    b(Audit, Char('k'), NONE, Action::Up, "", ""),
    b(Audit, Down, NONE, Action::Down, "Down/j", "next entry"),
    b(Audit, Char('j'), NONE, Action::Down, "", ""),
    b(Audit, PageUp, NONE, Action::PageUp, "PgUp", "a page up"),
    b(Audit, PageDown, NONE, Action::PageDown, "PgDn", "a page down"),
    b(Audit, Home, NONE, Action::Home, "Home/g", "first entry"),
    b(Audit, Char('g'), NONE, Action::Home, "", ""),
    b(Audit, End, NONE, Action::End, "End/G", "last entry"),
    b(Audit, Char('G'), NONE, Action::End, "", ""),
    b(Audit, Enter, NONE, Action::Confirm, "Enter", "open the entry"),
    b(Audit, Char('/'), NONE, Action::Filter, "/", "filter: event, serial, order, request, officer"),
    b(Audit, Esc, NONE, Action::Back, "Esc", "clear the filter"),
    b(Audit, Char('v'), NONE, Action::VerifyChain, "v", "verify the hash chain"),
    b(Audit, Char('p'), NONE, Action::Replay, "p", "replay the log against the vault"),
    b(Audit, Char('c'), NONE, Action::Checkpoint, "c", "sign a checkpoint to a medium"),
    b(Audit, Char('x'), NONE, Action::ExportLog, "x", "export the log to a medium"),
    b(Entry, Up, NONE, Action::Up, "Up/k", "scroll up"),
    b(Entry, Char('k'), NONE, Action::Up, "", ""),
    b(Entry, Down, NONE, Action::Down, "Down/j", "scroll down"),
    b(Entry, Char('j'), NONE, Action::Down, "", ""),
    b(Entry, PageUp, NONE, Action::PageUp, "PgUp", "a page up"),
    b(Entry, PageDown, NONE, Action::PageDown, "PgDn", "a page down"),
    b(Entry, Home, NONE, Action::Home, "Home/g", "top"),
    b(Entry, Char('g'), NONE, Action::Home, "", ""),
    b(Entry, End, NONE, Action::End, "End/G", "bottom"),
    b(Entry, Char('G'), NONE, Action::End, "", ""),
    b(Entry, Esc, NONE, Action::Back, "Esc/Enter", "back to the list"),
    b(Entry, Enter, NONE, Action::Back, "", ""),
    b(Prompt, Enter, NONE, Action::Confirm, "Enter", "accept"),
    b(Prompt, Esc, NONE, Action::Back, "Esc", "cancel"),
    b(Confirm, Enter, NONE, Action::Confirm, "Enter/y", "yes, do it"),
    b(Confirm, Char('y'), NONE, Action::Confirm, "", ""),
    b(Confirm, Esc, NONE, Action::Back, "Esc/n", "no, go back"),
    b(Confirm, Char('n'), NONE, Action::Back, "", ""),
    b(Dialog, Esc, NONE, Action::Back, "Esc", "cancel; wipes typed passphrases"),
    b(CardList, Up, NONE, Action::Up, "Up/k", "move"),
    b(CardList, Char('k'), NONE, Action::Up, "", ""),
    b(CardList, Down, NONE, Action::Down, "Down/j", "move"),
    b(CardList, Char('j'), NONE, Action::Down, "", ""),
    b(CardList, Char(' '), NONE, Action::ToggleCard, "Space", "select/deselect the card"),
    b(CardList, Enter, NONE, Action::Confirm, "Enter", "use the selected cards"),
    b(CardList, Tab, NONE, Action::SwitchFocus, "Tab", "type a card directory"),
    b(TextField, Enter, NONE, Action::Confirm, "Enter", "accept (directory: add its cards)"),
    b(TextField, Backspace, NONE, Action::Backspace, "Backspace", "delete a character"),
    b(TextField, Char('u'), CTRL, Action::ClearInput, "Ctrl-U", "clear the field"),
    b(TextField, Tab, NONE, Action::SwitchFocus, "Tab", "unseal: go to the card list"),
    b(Help, Up, NONE, Action::Up, "Up/Down", "scroll"),
    b(Help, Char('k'), NONE, Action::Up, "", ""),
    b(Help, Down, NONE, Action::Down, "", ""),
    b(Help, Char('j'), NONE, Action::Down, "", ""),
    b(Help, PageUp, NONE, Action::PageUp, "PgUp/PgDn", "a page"),
    b(Help, PageDown, NONE, Action::PageDown, "", ""),
    b(Help, Home, NONE, Action::Home, "Home/End", "top, bottom"),
    b(Help, End, NONE, Action::End, "", ""),
        b(Act, Esc, NONE, Action::Back, "Esc", "back; cancel (nothing stored)"),
    // Fields take the text-field keys above (Enter checks, Tab next field).
    b(ActList, Up, NONE, Action::Up, "Up/Down", "choose (j/k); Enter picks"),
    b(ActList, Char('k'), NONE, Action::Up, "", ""),
    b(ActList, Down, NONE, Action::Down, "", ""),
    b(ActList, Char('j'), NONE, Action::Down, "", ""),
    b(ActList, Enter, NONE, Action::Confirm, "", ""),
    b(ActList, Tab, NONE, Action::SwitchFocus, "", ""),
    b(ActConfirm, Enter, NONE, Action::Confirm, "Enter/y", "confirm; PgUp/PgDn scroll"),
    b(ActConfirm, Char('y'), NONE, Action::Confirm, "", ""),
    b(ActConfirm, Up, NONE, Action::Up, "", ""),
    b(ActConfirm, Down, NONE, Action::Down, "", ""),
    b(ActConfirm, Char('k'), NONE, Action::Up, "", ""),
    b(ActConfirm, Char('j'), NONE, Action::Down, "", ""),
    b(ActConfirm, PageUp, NONE, Action::PageUp, "", ""),
    b(ActConfirm, PageDown, NONE, Action::PageDown, "", ""),
    b(ActSealed, Char('u'), NONE, Action::OpenUnseal, "u", "unseal first (when sealed)"),
    b(Main, Char('c'), NONE, Action::Act(ActKey::CardCheck), "c", "card check (a custodian's card)"),
    b(Batches, Up, NONE, Action::Up, "Up/k", "previous batch"),
    b(Batches, Char('k'), NONE, Action::Up, "", ""),
    b(Batches, Down, NONE, Action::Down, "Down/j", "next batch"),
    b(Batches, Char('j'), NONE, Action::Down, "", ""),
    b(Batches, Home, NONE, Action::Home, "Home/g", "first batch"),
    b(Batches, Char('g'), NONE, Action::Home, "", ""),
    b(Batches, End, NONE, Action::End, "End/G", "last batch"),
    b(Batches, Char('G'), NONE, Action::End, "", ""),
    b(Batches, Char('/'), NONE, Action::Act(ActKey::Find), "/", "look up a serial"),
    b(Batches, Char('x'), NONE, Action::Act(ActKey::Reject), "x", "void the serial shown (one officer's card)"),
    b(Orders, Up, NONE, Action::Up, "Up/k", "previous order"),
    b(Orders, Char('k'), NONE, Action::Up, "", ""),
    b(Orders, Down, NONE, Action::Down, "Down/j", "next order"),
    b(Orders, Char('j'), NONE, Action::Down, "", ""),
    b(Orders, Home, NONE, Action::Home, "Home/g", "first order"),
    b(Orders, Char('g'), NONE, Action::Home, "", ""),
    b(Orders, End, NONE, Action::End, "End/G", "last order"),
    b(Orders, Char('G'), NONE, Action::End, "", ""),
    b(Orders, Char('/'), NONE, Action::Act(ActKey::Find), "/", "filter by id, customer or e-mail"),
    b(Orders, Char('n'), NONE, Action::Act(ActKey::New), "n", "add an order (one officer's card)"),
    b(Orders, Char('l'), NONE, Action::Act(ActKey::Assign), "l", "load shipped serials from a file"),
    b(Requests, Up, NONE, Action::Up, "Up/k", "previous request"),
    b(Requests, Char('k'), NONE, Action::Up, "", ""),
    b(Requests, Down, NONE, Action::Down, "Down/j", "next request"),
    b(Requests, Char('j'), NONE, Action::Down, "", ""),
    b(Requests, Home, NONE, Action::Home, "Home/g", "newest request"),
    b(Requests, Char('g'), NONE, Action::Home, "", ""),
    b(Requests, End, NONE, Action::End, "End/G", "oldest request"),
    b(Requests, Char('G'), NONE, Action::End, "", ""),
    b(Requests, Char('n'), NONE, Action::Act(ActKey::New), "n", "create a seed request"),
    b(Requests, Char('a'), NONE, Action::Act(ActKey::Approve), "a", "approve (a second officer)"),
    b(Requests, Char('x'), NONE, Action::Act(ActKey::Reject), "x", "reject, with a reason"),
    b(Form, Esc, NONE, Action::Back, "Esc", "back one step (wipes a typed passphrase)"),
    b(Form, BackTab, NONE, Action::Act(ActKey::PrevField), "Shift-Tab", "previous field"),
    b(Form, Up, NONE, Action::Up, "Up/Down", "move in the media file list"),
    b(Form, Down, NONE, Action::Down, "", ""),
    b(Form, Enter, NONE, Action::Confirm, "Enter", "check / pick the file"),
    b(Form, Tab, NONE, Action::SwitchFocus, "Tab", "next field, then the media file list"),
    b(ActPanel, Esc, NONE, Action::Back, "Esc", "back one step"),
    b(ActPanel, Enter, NONE, Action::Confirm, "Enter/y", "confirm / close"),
    b(ActPanel, Char('y'), NONE, Action::Confirm, "", ""),
    b(ActPanel, Up, NONE, Action::Up, "Up/Down", "scroll"),
    b(ActPanel, Down, NONE, Action::Down, "", ""),
    b(OfficerCards, Up, NONE, Action::Up, "Up/k", "previous card"),
    b(OfficerCards, Char('k'), NONE, Action::Up, "", ""),
    b(OfficerCards, Down, NONE, Action::Down, "Down/j", "next card"),
    b(OfficerCards, Char('j'), NONE, Action::Down, "", ""),
    b(OfficerCards, Enter, NONE, Action::Confirm, "Enter", "this officer's card"),
    b(OfficerCards, Char('r'), NONE, Action::Refresh, "r", "look for cards again"),
    b(OfficerCards, Tab, NONE, Action::SwitchFocus, "Tab", "type a card directory (Enter lists it)"),
    // `?` opens help where nothing is typed (a text field takes it as text).
    b(ActSealed, Char('?'), NONE, Action::ToggleHelp, "", ""),
    b(ActConfirm, Char('?'), NONE, Action::ToggleHelp, "", ""),
    b(ActPanel, Char('?'), NONE, Action::ToggleHelp, "", ""),
    b(OfficerCards, Char('?'), NONE, Action::ToggleHelp, "", ""),
    b(Help, Char('?'), NONE, Action::ToggleHelp, "?/Esc", "close help"),
    b(Help, Esc, NONE, Action::ToggleHelp, "", ""),
    b(Help, Char('q'), NONE, Action::ToggleHelp, "", ""),
];

/// The widest label in the table (help aligns its columns on it).
pub fn label_width() -> usize {
    BINDINGS
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0)
}

fn matches(bd: &Binding, key: &KeyEvent) -> bool {
    let mods = match key.code {
        KeyCode::Char(_) | KeyCode::BackTab => key.modifiers - KeyModifiers::SHIFT,
        _ => key.modifiers,
    };
    bd.code == key.code && bd.mods == mods
}

/// The action for `key` in the active `contexts` (innermost first).
/// `Context::Always` is consulted first; in a text field, an unbound
/// printable character is typed.
pub fn lookup(contexts: &[Context], key: &KeyEvent) -> Option<Action> {
    let in_order = std::iter::once(&Context::Always).chain(contexts.iter());
    for ctx in in_order {
        if let Some(bd) = BINDINGS
            .iter()
            .find(|bd| bd.context == *ctx && matches(bd, key))
        {
            return Some(bd.action);
        }
    }
    if contexts.contains(&Context::TextField) {
        if let KeyCode::Char(c) = key.code {
            let mods = key.modifiers - KeyModifiers::SHIFT;
            if mods.is_empty() && !c.is_control() {
                return Some(Action::Input(c));
            }
        }
    }
    None
}

/// The bindings of one context that help shows (aliases have no label).
pub fn help_lines(context: Context) -> impl Iterator<Item = &'static Binding> {
    BINDINGS
        .iter()
        .filter(move |bd| bd.context == context && !bd.label.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn innermost_context_wins_and_text_fields_take_letters() {
        assert_eq!(lookup(&[Main], &key(Char('q'))), Some(Action::Quit));
        assert_eq!(lookup(&[Main], &key(Esc)), Some(Action::Back));
        assert_eq!(
            lookup(&[TextField, Dialog], &key(Char('q'))),
            Some(Action::Input('q'))
        );
        assert_eq!(lookup(&[TextField, Dialog], &key(Esc)), Some(Action::Back));
        assert_eq!(lookup(&[Audit, Main], &key(Enter)), Some(Action::Confirm));
        let ctrl_c = KeyEvent::new(Char('c'), KeyModifiers::CONTROL);
        assert_eq!(
            lookup(&[TextField, Dialog], &ctrl_c),
            Some(Action::ForceQuit)
        );
        let shift_g = KeyEvent::new(Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&[Audit, Main], &shift_g), Some(Action::End));
    }

    #[test]
    fn no_key_quits_but_q_and_ctrl_c() {
        for bd in BINDINGS {
            if matches!(bd.action, Action::Quit | Action::ForceQuit) {
                assert!(matches!(bd.code, Char('q') | Char('c')), "{:?}", bd.code);
            }
        }
    }

    #[test]
    fn every_context_has_help() {
        for ctx in [
            Main,
            Audit,
            Entry,
            Prompt,
            Confirm,
            Dialog,
            CardList,
            TextField,
            Help,
            Act,
            ActList,
            ActConfirm,
            ActSealed,
            Batches,
            Orders,
            Requests,
            Form,
            ActPanel,
            OfficerCards,
        ] {
            assert!(help_lines(ctx).next().is_some(), "{ctx:?}");
        }
    }
}
