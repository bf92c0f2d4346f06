//! Passwords in database URLs must never reach a terminal, a log file or an error report.

use url::Url;

/// Return `url` with its password (if any) replaced by `***`, keeping everything a user needs to
/// recognise the target (scheme, user, host, port, database).
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // set_password only fails for URLs that cannot have a password, which we just saw one in.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => redact_unparsed(url),
    }
}

/// Best-effort redaction for strings the URL parser rejects: hide whatever stands between
/// `user:` and the last `@` of the authority.
fn redact_unparsed(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &authority[..colon],
            &url[scheme_end + 3 + at..]
        ),
        _ => url.to_string(),
    }
}

/// The secrets found in a URL (the password, raw and percent-decoded), so that any text about to
/// be shown can be scrubbed of them even when a driver echoes them back.
pub fn secrets_of(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(parsed) = Url::parse(url) {
        if let Some(pw) = parsed.password() {
            if !pw.is_empty() {
                out.push(pw.to_string());
                if let Ok(decoded) = percent_encoding::percent_decode_str(pw).decode_utf8() {
                    if decoded != pw {
                        out.push(decoded.into_owned());
                    }
                }
            }
        }
    }
    out
}

/// Replace every occurrence of each secret in `text` with `***`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if !s.is_empty() {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_password_keeps_the_rest() {
        let r = redact_url("postgres://alice:s3cr3t@db.example:5432/app?sslmode=disable");
        assert!(!r.contains("s3cr3t"));
        assert!(r.contains("alice"));
        assert!(r.contains("db.example:5432/app"));
    }

    #[test]
    fn hides_password_in_unparseable_url() {
        let r = redact_url("mysql://bob:p@ss w0rd@host:99999/x");
        assert!(!r.contains("p@ss w0rd"), "{r}");
    }

    #[test]
    fn scrubs_raw_and_decoded() {
        let s = secrets_of("mysql://u:p%40ss@h/db");
        assert!(s.contains(&"p%40ss".to_string()));
        assert!(s.contains(&"p@ss".to_string()));
        assert_eq!(
            scrub("failed for p@ss and p%40ss", &s),
            "failed for *** and ***"
        );
    }
}
