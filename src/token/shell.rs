//! Splitting a pasted curl command into words the way a POSIX shell does, for the quoting that
//! curl commands use: single quotes, double quotes, backslash escapes and backslash-newline.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
