//! Errors name the file and the line or field at fault. A scan never stops at one: it collects
//! them next to the packages it could read.

use serde::{Deserialize, Serialize};

/// What went wrong inside one file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParseError {
    #[error("cannot read: {message}")]
    Io { message: String },
    #[error("{size} bytes is over the {limit}-byte limit for this kind of file")]
    TooLarge { size: u64, limit: u64 },
    #[error("line {line}: {message}")]
    Line { line: u64, message: String },
    #[error("field `{field}`: {message}")]
    Field { field: String, message: String },
    #[error("{message}")]
    Format { message: String },
}

impl ParseError {
    pub(crate) fn line(line: u64, message: impl Into<String>) -> Self {
        ParseError::Line {
            line,
            message: message.into(),
        }
    }

    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ParseError::Field {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn format(message: impl Into<String>) -> Self {
        ParseError::Format {
            message: message.into(),
        }
    }

    pub(crate) fn missing(field: &str) -> Self {
        ParseError::field(field, "missing or empty")
    }
}

impl From<std::io::Error> for ParseError {
    fn from(e: std::io::Error) -> Self {
        ParseError::Io {
            message: e.to_string(),
        }
    }
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        if e.line() == 0 {
            ParseError::format(e.to_string())
        } else {
            ParseError::line(e.line() as u64, e.to_string())
        }
    }
}

/// A [`ParseError`] and the file it happened in (relative to the scanned root).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{path}: {error}")]
pub struct FileError {
    pub path: String,
    pub error: ParseError,
}

impl FileError {
    pub fn new(path: impl Into<String>, error: ParseError) -> Self {
        FileError {
            path: path.into(),
            error,
        }
    }
}
