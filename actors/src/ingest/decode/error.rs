//! The one error type shared by every decoder.

/// Why a decoder rejected its input.
///
/// Deliberately a plain `Copy` enum with no payload: it is cheap to return on
/// the hot path, and [`DecodeError::reason`] gives a stable, low-cardinality
/// string for metric labels (`seawatch_ingest_errors_total{reason=...}`).
/// Those strings are part of the metrics surface: do not rename them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Nothing but whitespace / delimiters.
    #[error("empty input")]
    Empty,
    /// `<PRI>` present but malformed or out of range (> 191).
    #[error("malformed or out-of-range <PRI>")]
    BadPriority,
    /// Strict mode only: the line has no `<PRI>` at all.
    #[error("missing <PRI>")]
    MissingPriority,
    /// RFC 5424 header with a VERSION other than 1.
    #[error("unsupported syslog version")]
    UnsupportedVersion,
    /// A timestamp was clearly present but is not a valid date/time.
    #[error("invalid timestamp")]
    BadTimestamp,
    /// The RFC 5424 header fields are malformed (bad characters, overlong field).
    #[error("malformed header")]
    BadHeader,
    /// RFC 5424 STRUCTURED-DATA is malformed.
    #[error("malformed structured data")]
    BadStructuredData,
    /// The bytes are not valid UTF-8.
    #[error("invalid UTF-8")]
    BadUtf8,
    /// The input ends before a required part (header field, announced frame length).
    #[error("truncated input")]
    Truncated,
    /// Over the configured size limit (line, frame, or decompressed body).
    #[error("input too long")]
    TooLong,
    /// RFC 6587 octet-count prefix is malformed.
    #[error("malformed octet-count frame")]
    BadFrame,
    /// Not valid JSON, or JSON of the wrong shape.
    #[error("invalid JSON")]
    BadJson,
    /// A JSON object lacks a required field (`host`, `message`, `value`, ...).
    #[error("missing required field")]
    MissingField,
    /// A field has the right name but an unusable value (non-finite, wrong type).
    #[error("invalid field value")]
    BadValue,
    /// Snappy block decompression failed.
    #[error("invalid snappy block")]
    BadSnappy,
    /// Protobuf decoding failed.
    #[error("invalid protobuf")]
    BadProtobuf,
}

impl DecodeError {
    /// Stable snake_case label for metrics and logs.
    pub const fn reason(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::BadPriority => "bad_priority",
            DecodeError::MissingPriority => "missing_priority",
            DecodeError::UnsupportedVersion => "unsupported_version",
            DecodeError::BadTimestamp => "bad_timestamp",
            DecodeError::BadHeader => "bad_header",
            DecodeError::BadStructuredData => "bad_structured_data",
            DecodeError::BadUtf8 => "bad_utf8",
            DecodeError::Truncated => "truncated",
            DecodeError::TooLong => "too_long",
            DecodeError::BadFrame => "bad_frame",
            DecodeError::BadJson => "bad_json",
            DecodeError::MissingField => "missing_field",
            DecodeError::BadValue => "bad_value",
            DecodeError::BadSnappy => "bad_snappy",
            DecodeError::BadProtobuf => "bad_protobuf",
        }
    }

    /// Every variant, for pre-registering metric label values.
    pub const ALL: [DecodeError; 16] = [
        DecodeError::Empty,
        DecodeError::BadPriority,
        DecodeError::MissingPriority,
        DecodeError::UnsupportedVersion,
        DecodeError::BadTimestamp,
        DecodeError::BadHeader,
        DecodeError::BadStructuredData,
        DecodeError::BadUtf8,
        DecodeError::Truncated,
        DecodeError::TooLong,
        DecodeError::BadFrame,
        DecodeError::BadJson,
        DecodeError::MissingField,
        DecodeError::BadValue,
        DecodeError::BadSnappy,
        DecodeError::BadProtobuf,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for e in DecodeError::ALL {
            let r = e.reason();
            assert!(seen.insert(r), "duplicate reason {r}");
            assert!(r
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            assert!(!e.to_string().is_empty());
        }
    }
}
