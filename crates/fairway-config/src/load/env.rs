//! `${VAR}` substitution in scalar strings.

/// Why a substitution failed, at a byte offset into the raw string.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EnvError {
    pub offset: usize,
    pub message: String,
}

/// Replaces each `${NAME}` with `env(NAME)` and each `$$` with `$`; any
/// other `$` stays as it is (so regexes such as `^/api$` need no escaping).
pub(crate) fn substitute(
    raw: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, EnvError> {
    if !raw.contains('$') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let offset = raw.len() - rest.len() + i;
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let Some(end) = tail.find('}') else {
                return Err(EnvError {
                    offset,
                    message: "unterminated `${` (expected `${NAME}`)".to_string(),
                });
            };
            let name = &tail[..end];
            if !valid_var(name) {
                let message =
                    format!("invalid environment variable name `{name}` in `${{{name}}}`");
                return Err(EnvError { offset, message });
            }
            match env(name) {
                Some(value) => out.push_str(&value),
                None => {
                    let message = format!("environment variable `{name}` is not set");
                    return Err(EnvError { offset, message });
                }
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn valid_var(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("8080".to_string()),
            "EMPTY" => Some(String::new()),
            "DOLLAR" => Some("${PORT}".to_string()),
            _ => None,
        }
    }

    #[test]
    fn replaces_variables() {
        assert_eq!(
            substitute("127.0.0.1:${PORT}", &env).unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(substitute("${PORT}${PORT}", &env).unwrap(), "80808080");
        assert_eq!(substitute("a${EMPTY}b", &env).unwrap(), "ab");
        assert_eq!(substitute("plain", &env).unwrap(), "plain");
    }

    #[test]
    fn values_are_not_substituted_again() {
        assert_eq!(substitute("${DOLLAR}", &env).unwrap(), "${PORT}");
    }

    #[test]
    fn dollars() {
        assert_eq!(substitute("$$", &env).unwrap(), "$");
        assert_eq!(substitute("$${PORT}", &env).unwrap(), "${PORT}");
        assert_eq!(
            substitute("path_reg ^/api$", &env).unwrap(),
            "path_reg ^/api$"
        );
        assert_eq!(substitute("$x$", &env).unwrap(), "$x$");
        assert_eq!(substitute("é$é", &env).unwrap(), "é$é");
    }

    #[test]
    fn errors_name_the_variable_and_its_offset() {
        let e = substitute("addr ${NOPE}", &env).unwrap_err();
        assert_eq!(
            e,
            EnvError {
                offset: 5,
                message: "environment variable `NOPE` is not set".into()
            }
        );
        let e = substitute("x${PORT", &env).unwrap_err();
        assert_eq!(e.offset, 1);
        assert!(e.message.contains("unterminated"));
        let e = substitute("${1X}", &env).unwrap_err();
        assert!(e.message.contains("invalid environment variable name `1X`"));
        assert!(substitute("${}", &env).is_err());
    }
}
