//! Property: classification of arbitrary codes and messages never panics, and what no table knows
//! comes back unknown and fatal.

use plinth::errors::{
    classify_code, classify_code_in_context, explain, Category, Disposition, OpContext, Operation,
};
use plinth::Backend;
use proptest::prelude::*;

fn backend() -> impl Strategy<Value = Backend> {
    prop::sample::select(Backend::ALL.to_vec())
}

proptest! {
    #[test]
    fn never_panics(b in backend(), code in ".{0,12}", message in ".{0,80}") {
        let c = classify_code(b, &code, &message);
        prop_assert_eq!(c.backend, b);
        prop_assert_eq!(&c.message, &message);
        let ctx = OpContext { operation: Operation::AddColumn, table: "t".into(), name: Some(message.chars().take(3).collect()) };
        let _ = classify_code_in_context(b, &code, &message, &ctx);
        let _ = explain(&code, Some(b));
    }

    #[test]
    fn unknown_codes_are_unknown_and_fatal(b in backend(), n in 30_000u32..40_000, low in 30u32..100, message in "[a-z ]{0,40}") {
        // No server defines error numbers in this range, and none is a numeric SQLSTATE we map. SQLite's low byte is the primary result
        // code (an unlisted extended code falls back to it), so there the low byte is unassigned.
        let n = if b == Backend::Sqlite { (n << 8) | low } else { n };
        // On PostgreSQL a five-digit number is a SQLSTATE: use an unassigned class (Z…) there.
        let code = if b == Backend::Postgres { format!("Z{:04}", n % 10_000) } else { n.to_string() };
        let c = classify_code(b, &code, &message);
        prop_assert_eq!((c.category, c.disposition), (Category::Unknown, Disposition::Fatal));
        let c = classify_code(b, "ZZ999", &message);
        prop_assert_eq!((c.category, c.disposition), (Category::Unknown, Disposition::Fatal));
        prop_assert!(!c.is_transient());
    }
}
