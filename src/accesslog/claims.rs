//! The claims an observation keeps from `%DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%`: issuer,
//! subject and audiences, read either from a parsed [`Value`] or straight from the logged JSON.
//!
//! Istio sets `payload_in_metadata` to the issuer, so the metadata is `{"<issuer>": {claims}}`. A
//! hand-written filter may use `payload`, and a format logging `…:payload` gives the claims directly.
//! Both readers fill a [`Metadata`] and [`Metadata::claims`] applies that rule once.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The claims of the token `jwt_authn` accepted, as the identity of a hop uses them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Claims<'a> {
    /// The `iss` claim, else the metadata key the claims were stored under.
    pub(crate) issuer: Option<Cow<'a, str>>,
    pub(crate) subject: Option<Cow<'a, str>>,
    pub(crate) audiences: Vec<String>,
}

/// The `iss`, `sub` and `aud` members of one JSON object. A repeated member counts with its last
/// value, as in a [`Map`].
#[derive(Debug, Clone, Default, PartialEq)]
struct ClaimsObject<'a> {
    /// Whether the object has an `iss` or `sub` member, whatever its type.
    names_issuer_or_subject: bool,
    /// `iss` when it is a string.
    issuer: Option<Cow<'a, str>>,
    /// `sub` when it is a string.
    subject: Option<Cow<'a, str>>,
    /// `aud` as a string, or the strings of an `aud` array.
    audiences: Vec<String>,
}

/// The `jwt_authn` metadata reduced to what [`Metadata::claims`] needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Metadata<'a> {
    /// The members of the metadata object itself.
    top: ClaimsObject<'a>,
    /// The first member, in key order, whose value is an object: its key and members.
    first_object: Option<(Cow<'a, str>, ClaimsObject<'a>)>,
}

impl<'a> Metadata<'a> {
    /// Reads a parsed payload, or returns `None` when it is not an object.
    pub(crate) fn from_value(payload: &'a Value) -> Option<Self> {
        let Value::Object(metadata) = payload else {
            return None;
        };
        let first_object = metadata.iter().find_map(|(key, value)| match value {
            Value::Object(claims) => {
                Some((Cow::Borrowed(key.as_str()), ClaimsObject::from_map(claims)))
            }
            _ => None,
        });
        Some(Self {
            top: ClaimsObject::from_map(metadata),
            first_object,
        })
    }

    /// Reads the logged JSON text without building a [`Value`], or returns `Ok(None)` when the
    /// JSON is not an object. Every value goes through `deserialize_any` as when building a
    /// `Value`, so the same texts fail, with the same error and position.
    pub(crate) fn from_json(text: &'a str) -> Result<Option<Self>, serde_json::Error> {
        serde_json::from_str::<TopLevel>(text).map(|top| top.0)
    }

    /// Returns the claims: the metadata itself when it has `iss` or `sub`, else the first object
    /// member, whose key is the issuer unless it is `payload`. `None` when there is neither.
    pub(crate) fn claims(self) -> Option<Claims<'a>> {
        let (issuer_key, object) = if self.top.names_issuer_or_subject {
            (None, self.top)
        } else {
            let (key, object) = self.first_object?;
            ((key != "payload").then_some(key), object)
        };
        Some(Claims {
            issuer: object.issuer.or(issuer_key),
            subject: object.subject,
            audiences: object.audiences,
        })
    }
}

impl<'a> ClaimsObject<'a> {
    fn from_map(map: &'a Map<String, Value>) -> Self {
        let text = |name: &str| map.get(name).and_then(Value::as_str).map(Cow::Borrowed);
        let audiences = match map.get("aud") {
            Some(Value::String(audience)) => vec![audience.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        Self {
            names_issuer_or_subject: map.contains_key("iss") || map.contains_key("sub"),
            issuer: text("iss"),
            subject: text("sub"),
            audiences,
        }
    }

    /// Records one member. A later member of the same name replaces the earlier one.
    fn set(&mut self, name: &str, value: Member<'a>) {
        match name {
            "iss" => {
                self.names_issuer_or_subject = true;
                self.issuer = value.into_text();
            }
            "sub" => {
                self.names_issuer_or_subject = true;
                self.subject = value.into_text();
            }
            "aud" => self.audiences = value.into_audiences(),
            _ => {}
        }
    }
}

// The streaming reader. Every value goes through `deserialize_any`, as a `Value` does, so numbers
// are range-checked, strings unescaped and nesting limited exactly as when building a `Value`.

/// The metadata read from JSON text, or `None` when the JSON is not an object.
struct TopLevel<'a>(Option<Metadata<'a>>);

/// A member value as far as the claims need it.
enum Member<'a> {
    Text(Cow<'a, str>),
    /// The strings of an array; other elements are left out.
    Texts(Vec<String>),
    Object(ClaimsObject<'a>),
    Other,
}

impl<'a> Member<'a> {
    fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }

    fn into_audiences(self) -> Vec<String> {
        match self {
            Self::Text(text) => vec![text.into_owned()],
            Self::Texts(list) => list,
            _ => Vec::new(),
        }
    }
}

/// The parts of a member value to keep.
#[derive(Clone, Copy)]
enum Keep {
    /// Strings, the strings of arrays, and the claims of objects (metadata members).
    Everything,
    /// Strings and the strings of arrays (`iss`, `sub`, `aud` of a claims object).
    Texts,
    /// Strings only (the elements of an array).
    Text,
    /// Nothing: the value is only checked.
    Nothing,
}

impl<'de> de::Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(TopLevel(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(TopLevel(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(TopLevel(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(TopLevel(None))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(TopLevel(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TopLevel(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element_seed(MemberSeed(Keep::Nothing))?.is_some() {}
        Ok(TopLevel(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut top = ClaimsObject::default();
        // A `Map` keeps the last value of a repeated key. So each key that ever had an object
        // value is listed once, with its last value when that is an object, and the first of
        // them in key order that still has an object is the one a `Map` would give.
        let mut objects: Vec<(Cow<'de, str>, Option<ClaimsObject<'de>>)> = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let member = map.next_value_seed(MemberSeed(Keep::Everything))?;
            let object = match member {
                Member::Object(object) => {
                    top.set(&key, Member::Other);
                    Some(object)
                }
                other => {
                    top.set(&key, other);
                    None
                }
            };
            match objects.iter_mut().find(|(name, _)| *name == key) {
                Some(earlier) => earlier.1 = object,
                None if object.is_some() => objects.push((key, object)),
                None => {}
            }
        }
        let first_object = objects
            .into_iter()
            .filter_map(|(key, object)| Some((key, object?)))
            .min_by(|(a, _), (b, _)| a.cmp(b));
        Ok(TopLevel(Some(Metadata { top, first_object })))
    }
}

/// Reads a key, borrowing it from the line unless it contains escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_owned()))
    }
}

/// Reads a member value and keeps the parts that [`Keep`] selects.
#[derive(Clone, Copy)]
struct MemberSeed(Keep);

impl<'de> DeserializeSeed<'de> for MemberSeed {
    type Value = Member<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MemberSeed {
    type Value = Member<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(match self.0 {
            Keep::Nothing => Member::Other,
            _ => Member::Text(Cow::Borrowed(text)),
        })
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(match self.0 {
            Keep::Nothing => Member::Other,
            _ => Member::Text(Cow::Owned(text.to_owned())),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if matches!(self.0, Keep::Nothing | Keep::Text) {
            while seq.next_element_seed(MemberSeed(Keep::Nothing))?.is_some() {}
            return Ok(Member::Other);
        }
        let mut texts = Vec::new();
        while let Some(element) = seq.next_element_seed(MemberSeed(Keep::Text))? {
            if let Member::Text(text) = element {
                texts.push(text.into_owned());
            }
        }
        Ok(Member::Texts(texts))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if !matches!(self.0, Keep::Everything) {
            while map.next_key::<IgnoredKey>()?.is_some() {
                map.next_value_seed(MemberSeed(Keep::Nothing))?;
            }
            return Ok(Member::Other);
        }
        let mut object = ClaimsObject::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let keep = match key.as_ref() {
                "iss" | "sub" | "aud" => Keep::Texts,
                _ => Keep::Nothing,
            };
            let value = map.next_value_seed(MemberSeed(keep))?;
            object.set(&key, value);
        }
        Ok(Member::Object(object))
    }
}

/// A key that is read and dropped.
struct IgnoredKey;

impl<'de> de::Deserialize<'de> for IgnoredKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(IgnoredAny).map(|_| Self)
    }
}
