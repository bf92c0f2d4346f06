//! A lexical splitter for MySQL/MariaDB migration files, so that each statement can be run, committed
//! and journaled on its own (DDL there commits implicitly, so "the migration" is not atomic; the
//! statement is). It understands what the `mysql` client understands: '…', "…" and `…` quoting with
//! backslash escapes and doubled quotes, `-- `, `#` and `/* */` comments (`/*! */` executable comments
//! count as code), `DELIMITER` lines, and — without `DELIMITER` — `BEGIN … END` bodies of
//! `CREATE PROCEDURE/FUNCTION/TRIGGER/EVENT` and MariaDB's `BEGIN NOT ATOMIC` blocks.

/// One statement of a migration file, as it will be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The statement text, trimmed, without its delimiter.
    pub text: String,
    /// The 1-based line of the file where it starts.
    pub line: usize,
}

impl Statement {
    /// The statement's SHA-256, journaled when it commits.
    pub fn hash(&self) -> String {
        super::super::source::checksum(&self.text)
    }

    /// The statement shortened to one line for messages.
    pub fn snippet(&self) -> String {
        let one_line = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if one_line.chars().count() > 120 {
            format!("{}…", one_line.chars().take(120).collect::<String>())
        } else {
            one_line
        }
    }
}

/// Whether MySQL/MariaDB commit this statement implicitly (and the transaction before it): a
/// `CREATE`, `ALTER`, `DROP`, `RENAME` or `TRUNCATE` that is not about a `TEMPORARY` table. Used to
/// skip the pointless `BEGIN` around such a statement; a statement not recognised here is treated as
/// transactional, which is always safe.
pub fn commits_implicitly(stmt: &str) -> bool {
    let mut words = first_words(stmt);
    match words.next().as_deref() {
        Some("CREATE") | Some("DROP") => {
            // CREATE [OR REPLACE] TEMPORARY TABLE / DROP TEMPORARY TABLE do not commit.
            !words.take(3).any(|w| w == "TEMPORARY")
        }
        Some("ALTER") | Some("RENAME") | Some("TRUNCATE") => true,
        _ => false,
    }
}

/// Whether `"{stmt}\n;BEGIN"` is this statement followed by a `BEGIN` and nothing else: an
/// implicitly committing statement that is not a compound one (a procedure, function, trigger or
/// event body may end in anything, so it is left alone) and does not end inside a quote or a
/// block comment.
pub fn takes_a_trailing_begin(stmt: &str) -> bool {
    let compound = first_words(stmt).take(7).any(|w| {
        matches!(
            w.as_str(),
            "PROCEDURE" | "FUNCTION" | "TRIGGER" | "EVENT" | "BEGIN"
        )
    });
    commits_implicitly(stmt) && !compound && {
        let both = split_mysql(&format!("{stmt}\n;BEGIN"));
        both.len() == 2 && both[0].text == stmt.trim() && both[1].text == "BEGIN"
    }
}

/// The statement's words, upper-cased, after leading blanks and comments.
fn first_words(stmt: &str) -> impl Iterator<Item = String> + '_ {
    let mut rest = stmt;
    // Skip leading blanks and comments (`-- `, `#`, `/* */` but not `/*! */`, which is code).
    loop {
        rest = rest.trim_start();
        if rest.starts_with("--") || rest.starts_with('#') {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if rest.starts_with("/*") && !rest.starts_with("/*!") {
            rest = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    rest.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Code,
    Quoted(char),
    LineComment,
    BlockComment,
}

struct Splitter {
    out: Vec<Statement>,
    cur: String,
    start_line: usize,
    has_code: bool,
    /// The first words of the current statement, upper-cased (to recognise compound statements).
    words: Vec<String>,
    word: String,
    depth: i64,
    pending_end: bool,
    prev_word: String,
}

impl Splitter {
    fn compound(&self) -> bool {
        let w = &self.words;
        match w.first().map(String::as_str) {
            Some("CREATE") => w
                .iter()
                .skip(1)
                .take(6)
                .any(|x| matches!(x.as_str(), "PROCEDURE" | "FUNCTION" | "TRIGGER" | "EVENT")),
            Some("BEGIN") => w.get(1).map(String::as_str) == Some("NOT"),
            _ => false,
        }
    }

    fn end_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        let w = std::mem::take(&mut self.word).to_ascii_uppercase();
        if self.words.len() < 8 {
            self.words.push(w.clone());
        }
        if self.words.len() == 2 && self.words[0] == "BEGIN" && self.words[1] == "NOT" {
            // MariaDB's `BEGIN NOT ATOMIC … END`: the BEGIN was read before we knew.
            self.depth = 1;
        } else if self.compound() {
            if self.pending_end {
                self.pending_end = false;
                match w.as_str() {
                    // `END IF` and friends close blocks that were never counted.
                    "IF" | "LOOP" | "WHILE" | "REPEAT" => {}
                    // `END CASE` closes a counted CASE.
                    "CASE" => self.depth -= 1,
                    _ => {
                        self.depth -= 1;
                        self.count_opener(&w);
                    }
                }
            } else {
                self.count_opener(&w);
            }
        }
        self.prev_word = w;
    }

    fn count_opener(&mut self, w: &str) {
        match w {
            "BEGIN" => self.depth += 1,
            "CASE" => self.depth += 1,
            "END" => self.pending_end = true,
            _ => {}
        }
    }

    /// A non-word, non-space character in code: settles a pending bare `END`.
    fn punct(&mut self) {
        self.end_word();
        if self.pending_end {
            self.pending_end = false;
            self.depth -= 1;
        }
    }

    fn finish(&mut self) {
        self.end_word();
        if self.pending_end {
            self.pending_end = false;
            self.depth -= 1;
        }
        let text = self.cur.trim().to_string();
        if self.has_code && !text.is_empty() {
            self.out.push(Statement {
                text,
                line: self.start_line,
            });
        }
        self.cur.clear();
        self.has_code = false;
        self.words.clear();
        self.depth = 0;
        self.prev_word.clear();
    }
}

/// Split a MySQL/MariaDB script into statements. Never fails: an unterminated quote or comment
/// simply runs to the end of the file, and the server reports the error on that statement.
pub fn split_mysql(sql: &str) -> Vec<Statement> {
    let chars: Vec<char> = sql.chars().collect();
    let mut s = Splitter {
        out: Vec::new(),
        cur: String::new(),
        start_line: 1,
        has_code: false,
        words: Vec::new(),
        word: String::new(),
        depth: 0,
        pending_end: false,
        prev_word: String::new(),
    };
    let mut delimiter: Vec<char> = vec![';'];
    let mut mode = Mode::Code;
    let mut line = 1usize;
    let mut at_line_start = true;
    let mut i = 0usize;
    while i < chars.len() {
        let c = chars[i];
        // `DELIMITER x` is a client command on its own line, never sent to the server.
        if mode == Mode::Code && at_line_start {
            let mut j = i;
            while j < chars.len() && (chars[j] == ' ' || chars[j] == '\t') {
                j += 1;
            }
            let rest: String = chars[j..].iter().take(10).collect();
            if rest.len() >= 10
                && rest[..9].eq_ignore_ascii_case("delimiter")
                && rest[9..].starts_with([' ', '\t'])
            {
                let end = chars[j..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map(|p| j + p)
                    .unwrap_or(chars.len());
                let arg: String = chars[j + 9..end].iter().collect();
                let arg = arg.trim();
                if !arg.is_empty() {
                    if s.has_code {
                        s.finish();
                    }
                    delimiter = arg.chars().collect();
                    i = end;
                    continue;
                }
            }
        }
        if c == '\n' {
            line += 1;
            at_line_start = true;
        } else if !(c == ' ' || c == '\t' || c == '\r') {
            at_line_start = false;
        }
        match mode {
            Mode::Code => {
                if !s.has_code && s.cur.trim().is_empty() && !c.is_whitespace() {
                    s.start_line = line;
                }
                let next = chars.get(i + 1).copied();
                let dash_comment = c == '-'
                    && next == Some('-')
                    && chars.get(i + 2).is_none_or(|c| c.is_whitespace());
                if dash_comment || c == '#' {
                    s.end_word();
                    mode = Mode::LineComment;
                    if s.has_code {
                        s.cur.push(c);
                    }
                } else if c == '/' && next == Some('*') {
                    s.end_word();
                    // `/*!50003 … */` and `/*M! … */` are code the server runs.
                    if matches!(chars.get(i + 2), Some('!') | Some('M')) {
                        s.has_code = true;
                    }
                    mode = Mode::BlockComment;
                    if s.has_code {
                        s.cur.push_str("/*");
                    }
                    i += 2;
                    continue;
                } else if chars[i..].starts_with(&delimiter)
                    && (delimiter != [';'] || s.depth <= 0 || {
                        // settle a bare END right before `;`
                        s.punct();
                        s.depth <= 0
                    })
                {
                    s.finish();
                    i += delimiter.len();
                    continue;
                } else if c == '\'' || c == '"' || c == '`' {
                    s.punct();
                    s.has_code = true;
                    mode = Mode::Quoted(c);
                    s.cur.push(c);
                } else if c.is_alphanumeric() || c == '_' || c == '$' {
                    s.has_code = true;
                    s.word.push(c);
                    s.cur.push(c);
                } else if c.is_whitespace() {
                    s.end_word();
                    s.cur.push(c);
                } else {
                    s.punct();
                    s.has_code = true;
                    s.cur.push(c);
                }
            }
            Mode::Quoted(q) => {
                s.cur.push(c);
                if c == '\\' && q != '`' {
                    if let Some(&n) = chars.get(i + 1) {
                        if n == '\n' {
                            line += 1;
                        }
                        s.cur.push(n);
                        i += 2;
                        continue;
                    }
                } else if c == q {
                    if chars.get(i + 1) == Some(&q) {
                        s.cur.push(q);
                        i += 2;
                        continue;
                    }
                    mode = Mode::Code;
                }
            }
            Mode::LineComment => {
                if s.has_code {
                    s.cur.push(c);
                }
                if c == '\n' {
                    mode = Mode::Code;
                }
            }
            Mode::BlockComment => {
                if s.has_code {
                    s.cur.push(c);
                }
                if c == '*' && chars.get(i + 1) == Some(&'/') {
                    if s.has_code {
                        s.cur.push('/');
                    }
                    mode = Mode::Code;
                    i += 2;
                    continue;
                }
            }
        }
        i += 1;
    }
    s.finish();
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split_mysql(sql).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn plain_statements_and_lines() {
        let s = split_mysql("CREATE TABLE a (id INT);\n\nINSERT INTO a VALUES (1);\n  SELECT 1");
        assert_eq!(
            s.iter()
                .map(|s| (s.text.as_str(), s.line))
                .collect::<Vec<_>>(),
            [
                ("CREATE TABLE a (id INT)", 1),
                ("INSERT INTO a VALUES (1)", 3),
                ("SELECT 1", 4)
            ]
        );
    }

    #[test]
    fn quotes_hide_semicolons() {
        assert_eq!(
            texts(
                r#"INSERT INTO t VALUES ('a;b', "c;d", 'it''s;', 'back\';slash');SELECT `we;ird`;"#
            ),
            [
                r#"INSERT INTO t VALUES ('a;b', "c;d", 'it''s;', 'back\';slash')"#,
                "SELECT `we;ird`"
            ]
        );
    }

    #[test]
    fn comments_hide_semicolons_and_comment_only_text_is_dropped() {
        let sql = "-- plinth:no-transaction\n-- a; b\n# c; d\n/* e; f */\nCREATE TABLE a (id INT); -- trailing;\n/* only; a comment */\n";
        let s = split_mysql(sql);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].text, "CREATE TABLE a (id INT)");
        assert_eq!(s[0].line, 5);
        assert_eq!(
            texts("SELECT 1 /* x; y */ + 1; SELECT 'a' # z;\n;"),
            ["SELECT 1 /* x; y */ + 1", "SELECT 'a' # z;"]
        );
        // `--` without a following space is an operator, not a comment.
        assert_eq!(texts("SELECT 1--1;SELECT 2;"), ["SELECT 1--1", "SELECT 2"]);
    }

    #[test]
    fn executable_comments_are_code() {
        assert_eq!(
            texts("/*!40101 SET NAMES utf8mb4 */;\nSELECT 1;"),
            ["/*!40101 SET NAMES utf8mb4 */", "SELECT 1"]
        );
    }

    #[test]
    fn delimiter_blocks() {
        let sql = "CREATE TABLE t (id INT);\nDELIMITER $$\nCREATE PROCEDURE p()\nBEGIN\n  INSERT INTO t VALUES (1);\n  SELECT 1;\nEND$$\ndelimiter ;\nCALL p();\n";
        assert_eq!(
            texts(sql),
            [
                "CREATE TABLE t (id INT)",
                "CREATE PROCEDURE p()\nBEGIN\n  INSERT INTO t VALUES (1);\n  SELECT 1;\nEND",
                "CALL p()"
            ]
        );
    }

    #[test]
    fn compound_bodies_without_delimiter() {
        let sql = "CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW\nBEGIN\n  IF NEW.id < 0 THEN SET NEW.id = 0; END IF;\n  SET NEW.v = CASE WHEN NEW.v IS NULL THEN 'x' ELSE NEW.v END;\n  lbl: LOOP LEAVE lbl; END LOOP lbl;\nEND;\nINSERT INTO t VALUES (1, NULL);\nCREATE FUNCTION f() RETURNS INT RETURN 1;\nBEGIN NOT ATOMIC SELECT 1; END;\nBEGIN;\nCOMMIT;";
        let t = texts(sql);
        assert_eq!(t.len(), 6, "{t:#?}");
        assert!(
            t[0].starts_with("CREATE TRIGGER") && t[0].ends_with("END"),
            "{t:#?}"
        );
        assert_eq!(t[1], "INSERT INTO t VALUES (1, NULL)");
        assert_eq!(t[2], "CREATE FUNCTION f() RETURNS INT RETURN 1");
        assert_eq!(t[3], "BEGIN NOT ATOMIC SELECT 1; END");
        assert_eq!(t[4], "BEGIN");
        assert_eq!(t[5], "COMMIT");
    }

    #[test]
    fn identifiers_containing_keywords_do_not_count() {
        let sql =
            "CREATE PROCEDURE p() BEGIN SELECT begin_at, end_at, `end` FROM x; END;\nSELECT 2;";
        assert_eq!(
            texts(sql),
            [
                "CREATE PROCEDURE p() BEGIN SELECT begin_at, end_at, `end` FROM x; END",
                "SELECT 2"
            ]
        );
    }

    #[test]
    fn implicit_commits() {
        for ddl in [
            "CREATE TABLE t (id INT)",
            "create index i on t (a)",
            "-- make it\nALTER TABLE t ADD c INT",
            "/* x */ DROP TABLE t",
            "# hash\nRENAME TABLE a TO b",
            "TRUNCATE TABLE t",
            "CREATE OR REPLACE VIEW v AS SELECT 1",
        ] {
            assert!(commits_implicitly(ddl), "{ddl}");
        }
        for not in [
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "CREATE TEMPORARY TABLE t (id INT)",
            "CREATE OR REPLACE TEMPORARY TABLE t (id INT)",
            "DROP TEMPORARY TABLE t",
            "/*!40101 CREATE TABLE t (id INT) */",
            "-- CREATE TABLE t (id INT)\nDELETE FROM t",
            "SET @a = 1",
        ] {
            assert!(!commits_implicitly(not), "{not}");
        }
    }

    #[test]
    fn a_begin_may_follow_plain_ddl_only() {
        for yes in [
            "CREATE TABLE t (id INT)",
            "ALTER TABLE t ADD c INT -- a note at the end",
            "CREATE TABLE t (c VARCHAR(9) DEFAULT 'a;b') # hash note",
            "DROP TABLE t /* closed */",
        ] {
            assert!(takes_a_trailing_begin(yes), "{yes}");
        }
        for no in [
            "INSERT INTO t VALUES (1)",
            "CREATE TEMPORARY TABLE t (id INT)",
            "CREATE PROCEDURE p() BEGIN SELECT 1; END",
            "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1",
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t",
            "CREATE TABLE t (c VARCHAR(9) DEFAULT 'unterminated",
            "CREATE TABLE t (id INT) /* unterminated",
        ] {
            assert!(!takes_a_trailing_begin(no), "{no}");
        }
    }
}
