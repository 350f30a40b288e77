//! What a person can ask for. Keys map to these (see `keys.rs`); `update`
//! is the only place that acts on them.

/// One request from the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Seal and quit; asks first while unsealed (`q`).
    Quit,
    /// Seal and quit at once, without asking (Ctrl-C).
    ForceQuit,
    /// Close the topmost dialog or view; cancel. Never quits.
    Back,
    /// Show or hide the keybinding overlay.
    ToggleHelp,
    /// Next tab.
    NextTab,
    /// Previous tab.
    PrevTab,
    /// Jump to the tab at this position (0-based).
    GotoTab(u8),
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// First item.
    Home,
    /// Last item.
    End,
    /// Open the selected item / confirm.
    Confirm,
    /// Verify the audit chain.
    VerifyChain,
    /// Replay the audit log against the tables.
    Replay,
    /// Filter or find (`/`).
    Filter,
    /// Sign a checkpoint with the unsealed session and write it to a medium.
    Checkpoint,
    /// Write the whole log (`audit export`) to a medium.
    ExportLog,
    /// Open the unseal dialog.
    OpenUnseal,
    /// Seal now.
    Seal,
    /// Re-read the vault's status, log and media.
    Refresh,
    /// Select or deselect the card under the cursor.
    ToggleCard,
    /// Move focus between the dialog's path field and its card list.
    SwitchFocus,
    /// A character typed into a text field.
    Input(char),
    /// Delete the last character of a text field.
    Backspace,
    /// Empty the text field.
    ClearInput,
    /// Open the ingest wizard.
    OpenIngest,
    /// Open the export dialog.
    OpenExport,
    /// An officer's act or a step of one (Batches, Orders, Requests).
    Act(ActKey),
}

/// The keys of the officers' screens (see `acts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActKey {
    /// Find a serial / filter the list.
    Find,
    /// Add an order / create a request.
    New,
    /// Assign shipped serials from a file.
    Assign,
    /// Approve the selected request.
    Approve,
    /// Reject the request / void the serial.
    Reject,
    /// Check a custodian's card and passphrase.
    CardCheck,
    /// Previous field of a form.
    PrevField,
}
