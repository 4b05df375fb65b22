//! Semantic theme slots (allow, deny, dropped …) and their styles, loaded from TOML.
//!
//! Views ask for a [`Slot`], never for a colour. Built-in themes are embedded from `themes/`; a user
//! theme file overrides only the slots it sets. `NO_COLOR` turns every theme into a monochrome one
//! whose modifiers still make denials and findings stand out.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

const DEFAULT_TOML: &str = include_str!("../../themes/default.toml");
const LIGHT_TOML: &str = include_str!("../../themes/light.toml");

/// Built-in theme names and their TOML text.
const BUILT_INS: [(&str, &str); 2] = [("default", DEFAULT_TOML), ("light", LIGHT_TOML)];

/// A semantic role that text on screen plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    Text,
    Muted,
    Accent,
    Header,
    Border,
    Selection,
    Allow,
    Deny,
    Error,
    Dropped,
    Mismatch,
    Unverified,
    Expired,
}

impl Slot {
    pub const ALL: [Slot; 13] = [
        Slot::Text,
        Slot::Muted,
        Slot::Accent,
        Slot::Header,
        Slot::Border,
        Slot::Selection,
        Slot::Allow,
        Slot::Deny,
        Slot::Error,
        Slot::Dropped,
        Slot::Mismatch,
        Slot::Unverified,
        Slot::Expired,
    ];

    /// Returns the slot's name in theme files.
    pub fn name(self) -> &'static str {
        match self {
            Slot::Text => "text",
            Slot::Muted => "muted",
            Slot::Accent => "accent",
            Slot::Header => "header",
            Slot::Border => "border",
            Slot::Selection => "selection",
            Slot::Allow => "allow",
            Slot::Deny => "deny",
            Slot::Error => "error",
            Slot::Dropped => "dropped",
            Slot::Mismatch => "mismatch",
            Slot::Unverified => "unverified",
            Slot::Expired => "expired",
        }
    }

    fn from_name(name: &str) -> Option<Slot> {
        Slot::ALL.into_iter().find(|slot| slot.name() == name)
    }

    fn index(self) -> usize {
        Slot::ALL
            .iter()
            .position(|slot| *slot == self)
            .unwrap_or_default()
    }
}

/// Modifier names accepted in theme files.
const MODIFIERS: [(&str, Modifier); 6] = [
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("reversed", Modifier::REVERSED),
    ("crossed_out", Modifier::CROSSED_OUT),
];

/// A style for every [`Slot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    /// The built-in name or the file the theme came from.
    pub name: String,
    styles: [Style; Slot::ALL.len()],
}

/// Errors from loading a theme.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error(
        "unknown theme \"{name}\": use a built-in theme ({valid}) or the path of a TOML theme file"
    )]
    UnknownName { name: String, valid: String },
    #[error("failed to read theme file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid TOML in theme {file}: {message}")]
    Syntax { file: String, message: String },
    #[error("theme {file}: unknown slot \"{slot}\"; valid slots: {valid}")]
    UnknownSlot {
        file: String,
        slot: String,
        valid: String,
    },
    #[error(
        "theme {file}, slot \"{slot}\": expected a table such as [{slot}] with fg, bg or \
         modifiers, found \"{value}\""
    )]
    NotATable {
        file: String,
        slot: String,
        value: String,
    },
    #[error("theme {file}, slot \"{slot}\": unknown key \"{key}\"; valid keys: fg, bg, modifiers")]
    UnknownKey {
        file: String,
        slot: String,
        key: String,
    },
    #[error(
        "theme {file}, slot \"{slot}\": invalid colour \"{value}\" for {key}; use a name such as \
         \"red\" or \"lightcyan\", \"#rrggbb\", an index 0-255, or \"reset\""
    )]
    BadColor {
        file: String,
        slot: String,
        key: String,
        value: String,
    },
    #[error(
        "theme {file}, slot \"{slot}\": invalid modifier \"{value}\"; valid modifiers: {valid}"
    )]
    BadModifier {
        file: String,
        slot: String,
        value: String,
        valid: String,
    },
}

impl Theme {
    /// Loads a built-in theme by name, or a TOML theme file by path, then applies `NO_COLOR`.
    pub fn load(name_or_path: &str) -> Result<Theme, ThemeError> {
        let theme = Self::load_colored(name_or_path)?;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Ok(if no_color {
            theme.without_colors()
        } else {
            theme
        })
    }

    /// Loads a theme the way [`Theme::load`] does, ignoring `NO_COLOR`.
    pub fn load_colored(name_or_path: &str) -> Result<Theme, ThemeError> {
        if let Some((name, text)) = BUILT_INS.iter().find(|(name, _)| *name == name_or_path) {
            return Self::from_toml(name, text);
        }
        let path = Path::new(name_or_path);
        let looks_like_path = path.extension().is_some() || name_or_path.contains(['/', '\\']);
        if !looks_like_path && !path.exists() {
            return Err(ThemeError::UnknownName {
                name: name_or_path.to_owned(),
                valid: built_in_names(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| ThemeError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&path.display().to_string(), &text)
    }

    /// Parses theme TOML over the default theme; `file` names the source in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<Theme, ThemeError> {
        let unstyled = Theme {
            name: String::new(),
            styles: [Style::new(); Slot::ALL.len()],
        };
        let base = overlay(unstyled, "default", DEFAULT_TOML)?;
        overlay(base, file, text)
    }

    /// Returns the style of `slot`.
    pub fn style(&self, slot: Slot) -> Style {
        self.styles[slot.index()]
    }

    /// Returns a theme with no colours, where modifiers alone mark selection, denials and findings.
    #[must_use]
    pub fn without_colors(self) -> Theme {
        let mut styles = [Style::new(); Slot::ALL.len()];
        for slot in Slot::ALL {
            styles[slot.index()] = Style::new().add_modifier(monochrome_modifier(slot));
        }
        Theme {
            name: format!("{} (NO_COLOR)", self.name),
            styles,
        }
    }
}

impl Default for Theme {
    fn default() -> Self {
        Self::from_toml("default", DEFAULT_TOML).unwrap_or_else(|_| Theme {
            name: "default".to_owned(),
            styles: [Style::new(); Slot::ALL.len()],
        })
    }
}

/// Sets the slots that `text` names on `base`.
fn overlay(mut theme: Theme, file: &str, text: &str) -> Result<Theme, ThemeError> {
    file.clone_into(&mut theme.name);
    let table: toml::Table = toml::from_str(text).map_err(|err| ThemeError::Syntax {
        file: file.to_owned(),
        message: err.message().to_owned(),
    })?;
    for (slot_name, value) in &table {
        let slot = Slot::from_name(slot_name).ok_or_else(|| ThemeError::UnknownSlot {
            file: file.to_owned(),
            slot: slot_name.clone(),
            valid: slot_names(),
        })?;
        theme.styles[slot.index()] = parse_slot(file, slot_name, value)?;
    }
    Ok(theme)
}

fn monochrome_modifier(slot: Slot) -> Modifier {
    match slot {
        Slot::Text | Slot::Border | Slot::Allow | Slot::Unverified => Modifier::empty(),
        Slot::Muted => Modifier::DIM,
        Slot::Accent | Slot::Header | Slot::Deny | Slot::Error | Slot::Expired => Modifier::BOLD,
        Slot::Selection => Modifier::REVERSED,
        Slot::Dropped | Slot::Mismatch => Modifier::BOLD | Modifier::UNDERLINED,
    }
}

fn parse_slot(file: &str, slot: &str, value: &toml::Value) -> Result<Style, ThemeError> {
    let mut style = Style::new();
    let Some(table) = value.as_table() else {
        return Err(ThemeError::NotATable {
            file: file.to_owned(),
            slot: slot.to_owned(),
            value: shown(value),
        });
    };
    for (key, value) in table {
        match key.as_str() {
            "fg" => style = style.fg(parse_color(file, slot, key, value)?),
            "bg" => style = style.bg(parse_color(file, slot, key, value)?),
            "modifiers" => style = style.add_modifier(parse_modifiers(file, slot, value)?),
            _ => {
                return Err(ThemeError::UnknownKey {
                    file: file.to_owned(),
                    slot: slot.to_owned(),
                    key: key.clone(),
                });
            }
        }
    }
    Ok(style)
}

fn parse_color(
    file: &str,
    slot: &str,
    key: &str,
    value: &toml::Value,
) -> Result<Color, ThemeError> {
    let bad = || ThemeError::BadColor {
        file: file.to_owned(),
        slot: slot.to_owned(),
        key: key.to_owned(),
        value: shown(value),
    };
    let text = value.as_str().ok_or_else(bad)?;
    Color::from_str(text).map_err(|_| bad())
}

fn parse_modifiers(file: &str, slot: &str, value: &toml::Value) -> Result<Modifier, ThemeError> {
    let bad = |shown_value: String| ThemeError::BadModifier {
        file: file.to_owned(),
        slot: slot.to_owned(),
        value: shown_value,
        valid: MODIFIERS.map(|(name, _)| name).join(", "),
    };
    let items = value.as_array().ok_or_else(|| bad(shown(value)))?;
    let mut modifier = Modifier::empty();
    for item in items {
        let name = item.as_str().ok_or_else(|| bad(shown(item)))?;
        let (_, found) = MODIFIERS
            .iter()
            .find(|(known, _)| *known == name)
            .ok_or_else(|| bad(name.to_owned()))?;
        modifier |= *found;
    }
    Ok(modifier)
}

/// Returns a TOML value as the user wrote it, without the quotes of a string.
fn shown(value: &toml::Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

fn built_in_names() -> String {
    BUILT_INS.map(|(name, _)| name).join(", ")
}

fn slot_names() -> String {
    Slot::ALL.map(Slot::name).join(", ")
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_load() {
        for (name, _) in BUILT_INS {
            assert!(Theme::load_colored(name).is_ok(), "{name}");
        }
    }

    /// Returns the RGB value of a colour whose value does not depend on the terminal's palette.
    fn fixed_rgb(color: Color) -> Option<[u8; 3]> {
        const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];
        match color {
            Color::Rgb(r, g, b) => Some([r, g, b]),
            Color::Indexed(index @ 16..=231) => {
                let cube = usize::from(index - 16);
                Some([CUBE[cube / 36], CUBE[cube / 6 % 6], CUBE[cube % 6]])
            }
            Color::Indexed(index @ 232..=255) => {
                let grey = 8 + 10 * (index - 232);
                Some([grey, grey, grey])
            }
            _ => None,
        }
    }

    /// Returns the WCAG 2 contrast ratio of two sRGB colours.
    fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
        let luminance = |rgb: [u8; 3]| {
            let linear = rgb.map(|channel| {
                let c = f64::from(channel) / 255.0;
                if c <= 0.039_28 {
                    c / 12.92
                } else {
                    ((c + 0.055) / 1.055).powf(2.4)
                }
            });
            0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
        };
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn light_readable_on_white() {
        const WHITE: [u8; 3] = [255, 255, 255];
        let light = Theme::load_colored("light").expect("light theme");
        for slot in Slot::ALL {
            let style = light.style(slot);
            // `reset` is the terminal's own foreground, which a light terminal sets dark.
            let Some(fg) = style.fg.filter(|fg| *fg != Color::Reset) else {
                continue;
            };
            let fg_rgb = fixed_rgb(fg);
            assert!(fg_rgb.is_some(), "{slot}: {fg:?} follows the palette");
            let bg_rgb = style.bg.map_or(Some(WHITE), fixed_rgb);
            assert!(bg_rgb.is_some(), "{slot}: background follows the palette");
            let minimum = if slot == Slot::Border { 3.0 } else { 4.5 };
            let ratio = contrast(fg_rgb.unwrap_or(WHITE), bg_rgb.unwrap_or(WHITE));
            assert!(ratio >= minimum, "{slot}: contrast {ratio:.2} < {minimum}");
        }
    }

    #[test]
    fn contrast_black_white() {
        let ratio = contrast([0, 0, 0], [255, 255, 255]);
        assert!((ratio - 21.0).abs() < 0.01, "{ratio}");
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let theme = Theme::from_toml("mine.toml", "[deny]\nfg = \"blue\"\n").expect("theme");
        assert_eq!(
            theme.style(Slot::Allow),
            Theme::default().style(Slot::Allow)
        );
    }

    #[test]
    fn bad_modifier_named() {
        let err = Theme::from_toml("mine.toml", "[deny]\nmodifiers = [\"blink-fast\"]\n")
            .expect_err("bad modifier");
        assert!(err.to_string().contains("\"blink-fast\""), "{err}");
    }

    #[test]
    fn unknown_key_named() {
        let err = Theme::from_toml("mine.toml", "[deny]\ncolour = \"red\"\n").expect_err("bad key");
        assert!(err.to_string().contains("\"colour\""), "{err}");
    }

    #[test]
    fn unknown_slot_lists_valid() {
        let err = Theme::from_toml("mine.toml", "[denied]\nfg = \"red\"\n").expect_err("bad slot");
        assert!(
            err.to_string().contains("valid slots: text, muted"),
            "{err}"
        );
    }
}
