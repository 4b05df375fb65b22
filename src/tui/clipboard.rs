//! Copying text to the clipboard through the terminal: the OSC 52 escape sequence, which xterm,
//! tmux (with `set-clipboard on`), kitty and others honour, also over SSH.

use std::io::Write;

use base64::Engine as _;

/// Returns the OSC 52 sequence that sets the clipboard selection (`c`) to `text`, ended by BEL.
pub fn osc52(text: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    format!("\x1b]52;c;{encoded}\x07")
}

/// Writes the OSC 52 sequence for `text` to `out` and flushes it.
pub fn copy(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    out.write_all(osc52(text).as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_encodes_base64() {
        assert_eq!(osc52("{\"sub\":\"a\"}"), "\x1b]52;c;eyJzdWIiOiJhIn0=\x07");
    }

    #[test]
    fn copy_writes_sequence() {
        let mut out = Vec::new();
        copy(&mut out, "hi").expect("a Vec accepts writes");
        assert_eq!(out, b"\x1b]52;c;aGk=\x07");
    }
}
