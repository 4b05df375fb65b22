//! Decoding one base64url segment of a JOSE token, with errors that name the segment, the byte
//! offset in the token and the bad character.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Segment of a JWS or JWE that a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment {
    Header,
    Payload,
    Signature,
    EncryptedKey,
    InitializationVector,
    Ciphertext,
    AuthenticationTag,
}

impl Segment {
    /// Returns the segment's name as used in messages, e.g. `payload (claims)`.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Payload => "payload (claims)",
            Self::Signature => "signature",
            Self::EncryptedKey => "encrypted key",
            Self::InitializationVector => "initialization vector",
            Self::Ciphertext => "ciphertext",
            Self::AuthenticationTag => "authentication tag",
        }
    }

    /// Returns the word used in problem codes, e.g. `payload`.
    pub(super) fn code(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Payload => "payload",
            Self::Signature => "signature",
            Self::EncryptedKey => "encrypted_key",
            Self::InitializationVector => "iv",
            Self::Ciphertext => "ciphertext",
            Self::AuthenticationTag => "tag",
        }
    }
}

/// A segment that decoded, perhaps in a form the JWS and JWE specifications do not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decoded {
    pub bytes: Vec<u8>,
    /// The segment carried `=` padding, which base64url in JOSE omits.
    pub padded: bool,
    /// The segment used `+` or `/` from the standard base64 alphabet.
    pub standard_alphabet: bool,
    /// The last character has unused bits that are not zero, so another encoder would write it
    /// differently.
    pub nonzero_trailing_bits: bool,
}

/// Reason a segment did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum SegmentError {
    #[error("the {} segment is empty", .segment.name())]
    Empty { segment: Segment },
    #[error(
        "the {} segment has the character {character:?} at byte {offset} of the token, which is not in the base64url alphabet (A-Z, a-z, 0-9, '-', '_')",
        .segment.name()
    )]
    InvalidCharacter {
        segment: Segment,
        character: char,
        /// Byte offset in the whole token.
        offset: usize,
    },
    #[error(
        "the {} segment mixes the base64url characters '-'/'_' with the standard base64 characters '+'/'/'",
        .segment.name()
    )]
    MixedAlphabets { segment: Segment },
    #[error(
        "the {} segment has {length} characters without padding, and no base64 text leaves one character over after groups of four; a character was lost or added",
        .segment.name()
    )]
    InvalidLength { segment: Segment, length: usize },
}

impl SegmentError {
    pub(super) fn segment(&self) -> Segment {
        match self {
            Self::Empty { segment }
            | Self::InvalidCharacter { segment, .. }
            | Self::MixedAlphabets { segment }
            | Self::InvalidLength { segment, .. } => *segment,
        }
    }
}

/// Returns an engine for unpadded input in `alphabet`, which ignores non-zero unused bits in the
/// last character when `allow_trailing_bits` is set.
const fn engine(alphabet: &alphabet::Alphabet, allow_trailing_bits: bool) -> GeneralPurpose {
    let config = GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(allow_trailing_bits);
    GeneralPurpose::new(alphabet, config)
}

/// Unpadded base64url that rejects non-zero unused bits. The engines are built once because
/// building one computes its decode table.
static URL_SAFE_STRICT: GeneralPurpose = engine(&alphabet::URL_SAFE, false);
/// Unpadded base64url that ignores non-zero unused bits, as Abseil's decoder does.
pub(super) static URL_SAFE_LENIENT: GeneralPurpose = engine(&alphabet::URL_SAFE, true);
static STANDARD_STRICT: GeneralPurpose = engine(&alphabet::STANDARD, false);
static STANDARD_LENIENT: GeneralPurpose = engine(&alphabet::STANDARD, true);

/// Class bits of a byte: in both alphabets (letters and digits), in base64url only (`-_`), in
/// standard base64 only (`+/`), the dot between segments, or in neither (`=` included: padding is
/// handled apart).
const URL_SAFE_ONLY: u8 = 1;
const STANDARD_ONLY: u8 = 2;
const OUTSIDE: u8 = 4;
const DOT: u8 = 8;
/// Bytes that no segment contains.
const NOT_IN_SEGMENT: u8 = OUTSIDE | DOT;

/// Returns the union of the class bits of the bytes of `text`. Each class is a comparison rather
/// than a table lookup, and no byte ends the loop early, so the compiler checks 16 bytes at a time
/// in vector registers: a batch token goes through this twice.
pub(super) fn byte_classes(text: &str) -> u8 {
    text.bytes().fold(0, |seen, byte| {
        // `| 0x20` folds upper case onto lower case and moves no other byte into `a..=z`.
        let letter = u8::from((byte | 0x20).wrapping_sub(b'a') < 26);
        let digit = u8::from(byte.wrapping_sub(b'0') < 10);
        let url_only = u8::from(byte == b'-') | u8::from(byte == b'_');
        let standard_only = u8::from(byte == b'+') | u8::from(byte == b'/');
        let dot = u8::from(byte == b'.');
        let outside = 1 ^ (letter | digit | url_only | standard_only | dot);
        seen | (url_only * URL_SAFE_ONLY)
            | (standard_only * STANDARD_ONLY)
            | (dot * DOT)
            | (outside * OUTSIDE)
    })
}

/// Returns whether `text` holds only letters, digits, `-` and `_`.
pub(super) fn is_url_safe(text: &str) -> bool {
    byte_classes(text) & (STANDARD_ONLY | NOT_IN_SEGMENT) == 0
}

/// Returns whether `text` contains only letters, digits, `-`, `_` and `.`, as a compact JWS or JWE
/// in base64url does.
pub(super) fn is_url_safe_with_dots(text: &str) -> bool {
    byte_classes(text) & (STANDARD_ONLY | OUTSIDE) == 0
}

/// Decodes `text`, the `segment` that starts at byte `start` of the token. Padding and the
/// standard alphabet decode but are flagged in [`Decoded`].
pub(super) fn decode_segment(
    text: &str,
    segment: Segment,
    start: usize,
) -> Result<Decoded, SegmentError> {
    if text.is_empty() {
        return Err(SegmentError::Empty { segment });
    }

    let unpadded = text.trim_end_matches('=');
    let padded = unpadded.len() != text.len();
    let classes = byte_classes(unpadded);
    let mut url_safe = classes & URL_SAFE_ONLY != 0;
    let mut standard = classes & STANDARD_ONLY != 0;
    // Only a segment with a byte outside both alphabets, or more than two `=`, needs the walk
    // below, which finds the first bad byte.
    let clean = classes & NOT_IN_SEGMENT == 0 && text.len() - unpadded.len() <= 2;
    for (index, byte) in text.bytes().enumerate().take_while(|_| !clean) {
        let in_padding = index >= unpadded.len();
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' if !in_padding => {}
            b'-' | b'_' if !in_padding => url_safe = true,
            b'+' | b'/' if !in_padding => standard = true,
            b'=' if in_padding && text.len() - index <= 2 => {}
            _ => {
                // The first bad byte starts a character: every byte before it was ASCII.
                let character = text[index..]
                    .chars()
                    .next()
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                return Err(SegmentError::InvalidCharacter {
                    segment,
                    character,
                    offset: start + index,
                });
            }
        }
    }
    if url_safe && standard {
        return Err(SegmentError::MixedAlphabets { segment });
    }
    if unpadded.len() % 4 == 1 {
        return Err(SegmentError::InvalidLength {
            segment,
            length: unpadded.len(),
        });
    }

    let (strict, lenient) = if standard {
        (&STANDARD_STRICT, &STANDARD_LENIENT)
    } else {
        (&URL_SAFE_STRICT, &URL_SAFE_LENIENT)
    };
    let (bytes, nonzero_trailing_bits) = if let Ok(bytes) = strict.decode(unpadded) {
        (bytes, false)
    } else {
        // The characters and the length were checked above, so only the trailing bits of the
        // last character can fail the strict decode.
        let bytes = lenient
            .decode(unpadded)
            .map_err(|_| SegmentError::InvalidLength {
                segment,
                length: unpadded.len(),
            })?;
        (bytes, true)
    };
    Ok(Decoded {
        bytes,
        padded,
        standard_alphabet: standard,
        nonzero_trailing_bits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_classes_match_the_alphabets() {
        for byte in 0..=127_u8 {
            let text = char::from(byte).to_string();
            let expected = match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => 0,
                b'-' | b'_' => URL_SAFE_ONLY,
                b'+' | b'/' => STANDARD_ONLY,
                b'.' => DOT,
                _ => OUTSIDE,
            };
            assert_eq!(byte_classes(&text), expected, "{byte:#04x}");
        }
        // Every byte a UTF-8 string can hold above ASCII: lead bytes of two, three and four byte
        // characters, and all continuation bytes.
        let wide = (0x80..0x800).chain([0x800, 0xffff, 0x1_0000, 0x10_ffff]);
        for character in wide.filter_map(char::from_u32) {
            let text = format!("a{character}");
            assert_eq!(byte_classes(&text), OUTSIDE, "{character:?}");
        }
        assert_eq!(byte_classes("a-b+c"), URL_SAFE_ONLY | STANDARD_ONLY);
        assert!(is_url_safe("abc-_09"));
        assert!(!is_url_safe("abc+"));
        assert!(!is_url_safe("ab=c"));
        assert!(!is_url_safe("ab.c"));
        assert!(is_url_safe_with_dots("eyJ.ab-_.c9"));
        assert!(!is_url_safe_with_dots("eyJ.ab+.c"));
        assert!(!is_url_safe_with_dots("eyJ.ab .c"));
    }

    #[test]
    fn decode_canonical() {
        let decoded = decode_segment("eyJhIjoxfQ", Segment::Header, 0).expect("decodes");
        assert_eq!(decoded.bytes, br#"{"a":1}"#);
        assert!(!decoded.padded);
    }

    #[test]
    fn decode_padded() {
        let decoded = decode_segment("eyJhIjoxfQ==", Segment::Header, 0).expect("decodes");
        assert!(decoded.padded);
    }

    #[test]
    fn decode_standard_alphabet() {
        let decoded = decode_segment("+/8", Segment::Signature, 0).expect("decodes");
        assert!(decoded.standard_alphabet);
    }

    #[test]
    fn decode_trailing_bits() {
        let decoded = decode_segment("eyJhIjoxfR", Segment::Header, 0).expect("decodes");
        assert!(decoded.nonzero_trailing_bits);
    }

    #[test]
    fn decode_bad_character_offset() {
        let error = decode_segment("ab%cd", Segment::Payload, 10).expect_err("rejects");
        assert_eq!(
            error,
            SegmentError::InvalidCharacter {
                segment: Segment::Payload,
                character: '%',
                offset: 12
            }
        );
    }

    #[test]
    fn decode_padding_inside() {
        let error = decode_segment("ab=cd", Segment::Header, 0).expect_err("rejects");
        assert!(matches!(
            error,
            SegmentError::InvalidCharacter { character: '=', .. }
        ));
    }

    #[test]
    fn decode_length_remainder_one() {
        let error = decode_segment("abcde", Segment::Header, 0).expect_err("rejects");
        assert!(matches!(
            error,
            SegmentError::InvalidLength { length: 5, .. }
        ));
    }
}
