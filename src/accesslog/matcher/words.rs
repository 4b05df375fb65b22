//! Byte searches that test eight bytes of a line at a time, in one `u64`.
//!
//! Each test sets the high bit of every byte that may be a hit. A test may also mark bytes after
//! its first hit (a borrow carries into the next byte), but never one before it, so the lowest
//! marked byte is the first hit, and an OR of several tests keeps that property.

/// The low bit of every byte.
const LOW_BITS: u64 = u64::from_le_bytes([0x01; 8]);
/// The high bit of every byte.
const HIGH_BITS: u64 = u64::from_le_bytes([0x80; 8]);

/// Marks the bytes of `word` below `bound` (at most 0x80).
#[inline]
fn bytes_below(word: u64, bound: u8) -> u64 {
    word.wrapping_sub(LOW_BITS * u64::from(bound)) & !word & HIGH_BITS
}

/// Marks the bytes of `word` above `bound` (below 0x80). No sum carries into the next byte, so
/// every mark is a hit.
#[inline]
fn bytes_above(word: u64, bound: u8) -> u64 {
    (((word & !HIGH_BITS) + LOW_BITS * u64::from(0x7f - bound)) | word) & HIGH_BITS
}

/// Marks the bytes of `word` equal to `byte`.
#[inline]
fn bytes_equal(word: u64, byte: u8) -> u64 {
    bytes_below(word ^ (LOW_BITS * u64::from(byte)), 1)
}

/// Returns the offset of the first byte of `bytes[from..limit]` that `is_hit` accepts, or `limit`
/// (at most the length of `bytes`) when there is none. `word_hits` marks the same bytes of a word,
/// in the way the module comment describes. A word may extend past `limit` into the rest of
/// `bytes`, so only the last few bytes of `bytes` are tested one at a time.
#[inline]
fn find_first(
    bytes: &[u8],
    from: usize,
    limit: usize,
    word_hits: impl Fn(u64) -> u64,
    is_hit: impl Fn(u8) -> bool,
) -> usize {
    let limit = limit.min(bytes.len());
    let Some(rest) = bytes.get(from..) else {
        return limit;
    };
    let (words, tail) = rest.as_chunks::<8>();
    let mut at = from;
    for word in words {
        if at >= limit {
            return limit;
        }
        let hits = word_hits(u64::from_le_bytes(*word));
        if hits != 0 {
            let offset = hits.trailing_zeros() / 8;
            return (at + offset as usize).min(limit);
        }
        at += 8;
    }
    let tail = tail.get(..limit.saturating_sub(at)).unwrap_or_default();
    tail.iter()
        .position(|&byte| is_hit(byte))
        .map_or(limit, |i| at + i)
}

/// Returns the offset of the first `byte` in `bytes[from..limit]`, or `limit`.
pub(super) fn find_byte(bytes: &[u8], from: usize, limit: usize, byte: u8) -> usize {
    find_first(
        bytes,
        from,
        limit,
        |word| bytes_equal(word, byte),
        |candidate| candidate == byte,
    )
}

/// Returns the offset of the first byte in `bytes[from..limit]` that may stop a bare value
/// followed by a literal starting with `first`, or `limit`. Besides `first`, these are the bytes
/// below 0x21 (ASCII whitespace and the other control characters) and above 0x7a (braces, `|`,
/// `~`, DEL and every byte of a non-ASCII character), so the caller decides which of them really
/// stop the value.
pub(super) fn find_token_stop(bytes: &[u8], from: usize, limit: usize, first: u8) -> usize {
    let stops = |word| bytes_below(word, 0x21) | bytes_above(word, 0x7a);
    let is_stop = |byte: u8| !(0x21..=0x7a).contains(&byte);
    if is_stop(first) {
        // A literal that starts with a space needs no test of its own.
        return find_first(bytes, from, limit, stops, is_stop);
    }
    find_first(
        bytes,
        from,
        limit,
        |word| stops(word) | bytes_equal(word, first),
        |byte| is_stop(byte) || byte == first,
    )
}

/// Returns whether `bytes[at..]` starts with `prefix`. It compares byte by byte because the
/// literals of a format are a few bytes long, and a call to `memcmp` costs more than comparing them.
#[inline]
pub(super) fn starts_with_at(bytes: &[u8], at: usize, prefix: &[u8]) -> bool {
    bytes.get(at..).is_some_and(|rest| {
        rest.len() >= prefix.len() && rest.iter().zip(prefix).all(|(a, b)| a == b)
    })
}

#[cfg(test)]
mod tests {
    use super::{find_byte, find_token_stop, starts_with_at};

    /// Every byte value at every offset of a word, and at the tested range's limit.
    #[test]
    fn searches_match_byte_loops() {
        for byte in 0..=u8::MAX {
            for at in 0..20 {
                let mut bytes = vec![b'a'; 24];
                bytes[at] = byte;
                for limit in [at, at + 1, 24] {
                    let quote = if byte == b'"' && at < limit {
                        at
                    } else {
                        limit
                    };
                    assert_eq!(
                        find_byte(&bytes, 0, limit, b'"'),
                        quote,
                        "{byte:#04x} at {at}"
                    );
                    let stops = !(0x21..=0x7a).contains(&byte) || byte == b';';
                    let stop = if stops && at < limit { at } else { limit };
                    let found = find_token_stop(&bytes, 0, limit, b';');
                    assert_eq!(found, stop, "{byte:#04x} at {at} before {limit}");
                    let spaced = if stops && byte != b';' && at < limit {
                        at
                    } else {
                        limit
                    };
                    let found = find_token_stop(&bytes, 0, limit, b' ');
                    assert_eq!(found, spaced, "{byte:#04x} at {at} before {limit}, space");
                }
            }
        }
    }

    #[test]
    fn search_finds_first_of_several() {
        // A borrow from a hit marks the byte after it, which must not hide the order of hits.
        let bytes = b"ab\x00\x01 \"\x7f\x80{x}\" cd";
        assert_eq!(find_byte(bytes, 0, bytes.len(), b'"'), 5);
        assert_eq!(find_byte(bytes, 6, bytes.len(), b'"'), 11);
        assert_eq!(find_token_stop(bytes, 0, bytes.len(), b'x'), 2);
        assert_eq!(find_token_stop(bytes, 5, bytes.len(), b'x'), 6);
        assert_eq!(find_token_stop(bytes, 7, bytes.len(), b'x'), 7);
        assert_eq!(find_token_stop(bytes, 9, bytes.len(), b'x'), 9);
        assert_eq!(find_token_stop(bytes, 11, bytes.len(), b'x'), 12);
    }

    #[test]
    fn prefix_at_offsets() {
        assert!(starts_with_at(b"] \"GET", 0, b"] \""));
        assert!(starts_with_at(b"x\" \"", 1, b"\" \""));
        assert!(starts_with_at(b"abc", 3, b""));
        assert!(!starts_with_at(b"x\" ", 1, b"\" \""));
        assert!(!starts_with_at(b"abc", 4, b""));
        assert!(!starts_with_at(b"abd", 1, b"bc"));
    }
}
