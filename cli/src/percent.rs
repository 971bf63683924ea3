//! Percent-encoding of what users type into request paths and query strings: a task id
//! (`a b?c#d`) or a user name must reach the scheduler as one path segment or one query value,
//! never end the path early or add query parameters of its own.

/// Every byte but RFC 3986's unreserved ones (`[A-Za-z0-9._~-]`).
const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'-');

/// `text` with every byte outside RFC 3986's unreserved set percent-encoded, so it is one
/// path segment or one query value whatever it holds.
pub fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, RESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn only_unreserved_bytes_pass_unchanged() {
        assert_eq!(
            encode("www-data-prod-hello_1-0-a.b~c"),
            "www-data-prod-hello_1-0-a.b~c"
        );
        assert_eq!(encode("a b?c#d"), "a%20b%3Fc%23d");
        assert_eq!(encode("T?at=31"), "T%3Fat%3D31");
        assert_eq!(encode("a/b%&+"), "a%2Fb%25%26%2B");
        assert_eq!(encode("ü"), "%C3%BC");
        assert_eq!(encode(""), "");
    }
}
