//! Splitting a pasted curl command into words the way a POSIX shell does, for the quoting that
//! curl commands use: single quotes, double quotes, bash's `$'…'` quotes with C escapes,
//! backslash escapes and backslash-newline.

/// Returns `command` with the caret escapes of Windows `cmd` removed, as `cmd` removes them before
/// curl reads its arguments, when `command` uses them: Chrome's "Copy as cURL (cmd)" writes `^"`
/// for each quote and ends continued lines with `^`. Other text is returned as it is.
pub(super) fn cmd_unescaped(command: &str) -> std::borrow::Cow<'_, str> {
    if !command.contains("^\"") {
        return std::borrow::Cow::Borrowed(command);
    }
    let mut out = String::with_capacity(command.len());
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '^' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // A caret at the end of a line continues the command on the next one.
            Some('\r') if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            Some('\n') | None => {}
            Some(escaped) => out.push(escaped),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Splits `command` into shell words. An unterminated quote ends at the end of the input, because
/// pasted commands are often cut short and the header inside is still worth finding.
pub(super) fn split_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();

    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for quoted in chars.by_ref() {
                    if quoted == '\'' {
                        break;
                    }
                    word.push(quoted);
                }
            }
            '"' => {
                in_word = true;
                read_double_quoted(&mut chars, &mut word);
            }
            // bash's `$'…'` and `$"…"` (a string for translation, read as double quotes).
            '$' if matches!(chars.clone().next(), Some('\'' | '"')) => {
                in_word = true;
                match chars.next() {
                    Some('\'') => read_ansi_c_quoted(&mut chars, &mut word),
                    _ => read_double_quoted(&mut chars, &mut word),
                }
            }
            '\\' => match chars.next() {
                // A backslash before a newline joins lines, as in multi-line curl commands.
                Some('\n' | '\r') | None => {}
                Some(escaped) => {
                    in_word = true;
                    word.push(escaped);
                }
            },
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Reads up to the closing double quote. Inside double quotes a backslash escapes only `"`, `\`,
/// `$`, `` ` `` and a newline; before any other character it stays.
fn read_double_quoted(chars: &mut std::str::Chars<'_>, word: &mut String) {
    while let Some(c) = chars.next() {
        match c {
            '"' => return,
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(escaped @ ('"' | '\\' | '$' | '`')) => word.push(escaped),
                Some(other) => {
                    word.push('\\');
                    word.push(other);
                }
                None => word.push('\\'),
            },
            c => word.push(c),
        }
    }
}

/// Reads up to the closing single quote of bash's `$'…'`, replacing the escapes the bash manual
/// lists under ANSI-C Quoting. A backslash before any other character stays, as bash keeps it.
fn read_ansi_c_quoted(chars: &mut std::str::Chars<'_>, word: &mut String) {
    while let Some(c) = chars.next() {
        match c {
            '\'' => return,
            '\\' => read_ansi_c_escape(chars, word),
            c => word.push(c),
        }
    }
}

/// Reads one escape of `$'…'` after its backslash and appends the character it stands for.
fn read_ansi_c_escape(chars: &mut std::str::Chars<'_>, word: &mut String) {
    let Some(c) = chars.next() else {
        word.push('\\');
        return;
    };
    let simple = match c {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'e' | 'E' => Some('\u{1b}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' | '\'' | '"' | '?' => Some(c),
        _ => None,
    };
    if let Some(simple) = simple {
        word.push(simple);
        return;
    }
    let code = match c {
        '0'..='7' => Some(read_digits(chars, 8, 2, c.to_digit(8))),
        'x' => Some(read_digits(chars, 16, 2, None)),
        'u' => Some(read_digits(chars, 16, 4, None)),
        'U' => Some(read_digits(chars, 16, 8, None)),
        // `\cX` is the control character of X, as Ctrl-X types it.
        'c' => chars
            .next()
            .map(|control| Some(u32::from(control.to_ascii_uppercase()) ^ 0x40)),
        _ => None,
    };
    // An unknown escape, `\x`, `\u` or `\U` without a hex digit, or `\c` at the end, stays as
    // written.
    if let Some(escaped) = code.flatten().and_then(char::from_u32) {
        word.push(escaped);
    } else {
        word.push('\\');
        word.push(c);
    }
}

/// Reads up to `max` more digits of `radix` and returns the number they give after `first`
/// (an octal escape's first digit), or `None` when there is no digit at all.
fn read_digits(
    chars: &mut std::str::Chars<'_>,
    radix: u32,
    max: usize,
    first: Option<u32>,
) -> Option<u32> {
    let mut value = first;
    for _ in 0..max {
        let Some(digit) = chars.clone().next().and_then(|c| c.to_digit(radix)) else {
            break;
        };
        chars.next();
        value = Some(
            value
                .unwrap_or(0)
                .saturating_mul(radix)
                .saturating_add(digit),
        );
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmd_carets_removed() {
        let copied = "curl ^\"https://x.test/a^\" ^\r\n  -H ^\"A: b^^c^\"";

        assert_eq!(
            cmd_unescaped(copied),
            "curl \"https://x.test/a\"   -H \"A: b^c\""
        );
        assert_eq!(
            split_words(&cmd_unescaped(copied)),
            ["curl", "https://x.test/a", "-H", "A: b^c"]
        );
        assert_eq!(cmd_unescaped("curl -H 'A: b^c'"), "curl -H 'A: b^c'");
    }

    #[test]
    fn split_single_and_double_quotes() {
        let words = split_words(r#"curl -H 'A: b c' --header "X: \"y\"" url"#);
        assert_eq!(
            words,
            ["curl", "-H", "A: b c", "--header", "X: \"y\"", "url"]
        );
    }

    #[test]
    fn split_line_continuation() {
        let words = split_words("curl \\\n  -H 'A: b' \\\r\n  url");
        assert_eq!(words, ["curl", "-H", "A: b", "url"]);
    }

    #[test]
    fn split_unterminated_quote() {
        let words = split_words("curl -H 'A: b");
        assert_eq!(words, ["curl", "-H", "A: b"]);
    }

    #[test]
    fn split_ansi_c_quotes() {
        let words = split_words(r"curl -H $'A:\tb \'c\' \x41\101\u00e9\\' -b $'j=1'");
        assert_eq!(words, ["curl", "-H", "A:\tb 'c' AAé\\", "-b", "j=1"]);
    }

    #[test]
    fn split_ansi_c_unknown_escape_kept() {
        let words = split_words(r"x $'\q\x' $foo");
        assert_eq!(words, ["x", r"\q\x", "$foo"]);
    }
}
