//! The options of curl that take a value, so that the value of an option in a pasted command is
//! not taken for a URL.

/// curl's short options that take a value, either the rest of the word (`-HName: v`) or the next
/// word. Every other letter is a flag, so flags may be grouped in front of one of these (`-sGd x`).
pub(super) const SHORT_WITH_VALUE: &str = "AbcCdDeEFHKmoPQrtTuUwxXyYz";

/// Splits a group of short options (`sG`, `HName: v`, `d`) at its first letter in `with_value`,
/// the options that take a value. Returns the flags before that letter, and the letter with its
/// value: the rest of the word, or else the next word of `rest`.
pub(super) fn split_short_group<'l, 'w>(
    letters: &'l str,
    with_value: &str,
    rest: &mut impl Iterator<Item = &'w String>,
) -> (&'l str, Option<(char, String)>) {
    let Some((index, letter)) = letters
        .char_indices()
        .find(|(_, letter)| with_value.contains(*letter))
    else {
        return (letters, None);
    };
    let attached = &letters[index + letter.len_utf8()..];
    let value = if attached.is_empty() {
        rest.next().cloned().unwrap_or_default()
    } else {
        attached.to_owned()
    };
    (&letters[..index], Some((letter, value)))
}

/// curl's long options that take a value, other than the ones
/// [`CurlRequest::parse`](super::CurlRequest::parse) reads. The value of an option missing here
/// counts as a word that is not an option, which is taken for a URL only when no such word
/// contains `://`.
pub(super) const LONG_WITH_VALUE: &[&str] = &[
    "--abstract-unix-socket",
    "--alt-svc",
    "--aws-sigv4",
    "--cacert",
    "--capath",
    "--cert",
    "--cert-type",
    "--ciphers",
    "--config",
    "--connect-timeout",
    "--connect-to",
    "--continue-at",
    "--cookie-jar",
    "--create-file-mode",
    "--crlfile",
    "--curves",
    "--delegation",
    "--dns-interface",
    "--dns-ipv4-addr",
    "--dns-ipv6-addr",
    "--dns-servers",
    "--doh-url",
    "--dump-header",
    "--egd-file",
    "--engine",
    "--etag-compare",
    "--etag-save",
    "--expect100-timeout",
    "--form",
    "--form-string",
    "--ftp-account",
    "--ftp-method",
    "--ftp-port",
    "--happy-eyeballs-timeout-ms",
    "--haproxy-clientip",
    "--hostpubmd5",
    "--hostpubsha256",
    "--hsts",
    "--interface",
    "--ip-tos",
    "--json",
    "--keepalive-time",
    "--key",
    "--key-type",
    "--krb",
    "--limit-rate",
    "--local-port",
    "--login-options",
    "--mail-auth",
    "--mail-from",
    "--mail-rcpt",
    "--max-filesize",
    "--max-redirs",
    "--max-time",
    "--netrc-file",
    "--noproxy",
    "--output",
    "--output-dir",
    "--parallel-max",
    "--pass",
    "--pinnedpubkey",
    "--preproxy",
    "--proto",
    "--proto-default",
    "--proto-redir",
    "--proxy",
    "--proxy-cacert",
    "--proxy-cert",
    "--proxy-header",
    "--proxy-key",
    "--proxy-pass",
    "--proxy-service-name",
    "--proxy-user",
    "--pubkey",
    "--quote",
    "--random-file",
    "--range",
    "--rate",
    "--referer",
    "--request",
    "--resolve",
    "--retry",
    "--retry-delay",
    "--retry-max-time",
    "--sasl-authzid",
    "--service-name",
    "--socks4",
    "--socks4a",
    "--socks5",
    "--socks5-hostname",
    "--speed-limit",
    "--speed-time",
    "--stderr",
    "--time-cond",
    "--tls-max",
    "--tls13-ciphers",
    "--tlsauthtype",
    "--tlspassword",
    "--tlsuser",
    "--trace",
    "--trace-ascii",
    "--trace-config",
    "--unix-socket",
    "--upload-file",
    "--user-agent",
    "--variable",
    "--write-out",
];
