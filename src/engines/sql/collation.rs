//! Column collations as a `CREATE TABLE` statement declares them (`name
//! TYPE ... COLLATE c`). SQLite keeps the statement as written and DuckDB
//! writes it back normalized; neither lists a column's collation anywhere
//! else. Text comparisons on a column go down to its engine only when its
//! collation compares bytes (see `filter.rs`).

use datafusion::arrow::datatypes::{DataType, Schema};

/// A column of a `CREATE TABLE` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredColumn {
    pub name: String,
    /// Its `COLLATE` clause (`NOCASE`, `nocase.noaccent`), when it has one.
    pub collation: Option<String>,
}

/// Words that open a table constraint rather than a column.
const CONSTRAINT_WORDS: &[&str] = &["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word: a keyword or an unquoted name.
    Word(String),
    /// A quoted name or a string literal, unquoted.
    Quoted(String),
    Open,
    Close,
    Comma,
    Dot,
    Other,
}

impl Token {
    fn is_word(&self, word: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(word))
    }

    /// The name this token spells, when it is a word or a quoted name.
    fn name(&self) -> Option<&str> {
        match self {
            Token::Word(w) | Token::Quoted(w) => Some(w),
            _ => None,
        }
    }
}

/// The columns `create` declares, in order; `None` when it declares none
/// (`CREATE TABLE ... AS SELECT`) or cannot be read.
pub fn declared_columns(create: &str) -> Option<Vec<DeclaredColumn>> {
    let tokens = tokenize(create);
    let open = tokens.iter().position(|t| *t == Token::Open)?;
    if tokens[..open].iter().any(|t| t.is_word("AS")) {
        return None;
    }
    let mut columns = Vec::new();
    // Each item's tokens with their depth inside the item (0: its own level).
    let mut item: Vec<(usize, &Token)> = Vec::new();
    let mut depth = 0usize;
    for token in &tokens[open + 1..] {
        match token {
            Token::Close if depth == 0 => {
                columns.extend(column(&item));
                return Some(columns);
            }
            Token::Comma if depth == 0 => {
                columns.extend(column(&item));
                item.clear();
            }
            Token::Open => {
                item.push((depth, token));
                depth += 1;
            }
            Token::Close => {
                depth -= 1;
                item.push((depth, token));
            }
            _ => item.push((depth, token)),
        }
    }
    None
}

/// The collation of each text field of `schema`, in schema order, as
/// `create` declares it (`default` for a column without `COLLATE`); `None`
/// for other fields and for columns `create` does not declare.
pub fn collations_of(create: &str, schema: &Schema, default: &str) -> Vec<Option<String>> {
    let declared = declared_columns(create).unwrap_or_default();
    schema
        .fields()
        .iter()
        .map(|field| {
            if !matches!(
                field.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) {
                return None;
            }
            let column = declared
                .iter()
                .find(|c| c.name == *field.name())
                .or_else(|| {
                    declared
                        .iter()
                        .find(|c| c.name.eq_ignore_ascii_case(field.name()))
                })?;
            Some(
                column
                    .collation
                    .clone()
                    .unwrap_or_else(|| default.to_string()),
            )
        })
        .collect()
}

/// The column an item of the column list declares (`None` for a table
/// constraint).
fn column(item: &[(usize, &Token)]) -> Option<DeclaredColumn> {
    let mut top = item.iter().filter(|(d, _)| *d == 0).map(|(_, t)| *t);
    let name = match top.next()? {
        Token::Word(w) if CONSTRAINT_WORDS.iter().any(|c| w.eq_ignore_ascii_case(c)) => {
            return None
        }
        t => t.name()?.to_string(),
    };
    let rest: Vec<&Token> = top.collect();
    let collation = rest
        .iter()
        .position(|t| t.is_word("COLLATE"))
        .and_then(|i| dotted_name(&rest[i + 1..]));
    Some(DeclaredColumn { name, collation })
}

/// `a` or `a.b.c` at the start of `tokens`.
fn dotted_name(tokens: &[&Token]) -> Option<String> {
    let mut name = tokens.first()?.name()?.to_string();
    let mut rest = &tokens[1..];
    while let [Token::Dot, next, ..] = rest {
        let Some(part) = next.name() else { break };
        name.push('.');
        name.push_str(part);
        rest = &rest[2..];
    }
    Some(name)
}

/// SQL text as tokens; comments dropped.
fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '-' if next == Some('-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            '\'' | '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                let mut text = String::new();
                i += 1;
                while i < chars.len() {
                    if chars[i] == close {
                        // A doubled quote is one quote inside the name.
                        if close != ']' && chars.get(i + 1) == Some(&close) {
                            text.push(close);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    text.push(chars[i]);
                    i += 1;
                }
                i += 1;
                tokens.push(Token::Quoted(text));
            }
            '(' | ')' | ',' | '.' => {
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    _ => Token::Dot,
                });
                i += 1;
            }
            c if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            _ => {
                tokens.push(Token::Other);
                i += 1;
            }
        }
    }
    tokens
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::{collations_of, declared_columns};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn collations(create: &str) -> Vec<(String, Option<String>)> {
        declared_columns(create)
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.collation))
            .collect()
    }

    fn pair(name: &str, collation: Option<&str>) -> (String, Option<String>) {
        (name.to_string(), collation.map(str::to_string))
    }

    #[test]
    fn sqlite_statements_as_written() {
        let create = r#"CREATE TABLE "we(ird" ( -- comment, with COLLATE NOCASE
            id INTEGER PRIMARY KEY,
            [name x] VARCHAR(20) NOT NULL COLLATE NOCASE,
            `code` TEXT CHECK (code <> 'x' COLLATE NOCASE) DEFAULT 'a,b',
            "q""t" TEXT /* COLLATE RTRIM */ COLLATE "RTRIM",
            plain,
            CONSTRAINT pk UNIQUE (code COLLATE NOCASE),
            FOREIGN KEY (id) REFERENCES other(id)
        )"#;
        assert_eq!(
            collations(create),
            [
                pair("id", None),
                pair("name x", Some("NOCASE")),
                pair("code", None),
                pair("q\"t", Some("RTRIM")),
                pair("plain", None),
            ]
        );
        assert_eq!(
            declared_columns("CREATE TABLE t AS SELECT count(*) AS n FROM u"),
            None
        );
        assert_eq!(declared_columns("CREATE TABLE t (a TEXT"), None);
    }

    #[test]
    fn duckdb_statements_normalized() {
        let create = "CREATE TABLE s.\"we ird\"(a INTEGER, b VARCHAR COLLATE nocase, \
                      c VARCHAR COLLATE nocase.noaccent, d STRUCT(x VARCHAR COLLATE nocase), \
                      e VARCHAR[], u VARCHAR COLLATE NOCASE DEFAULT('x,y'), PRIMARY KEY(a), CHECK((b != 'x')));";
        assert_eq!(
            collations(create),
            [
                pair("a", None),
                pair("b", Some("nocase")),
                pair("c", Some("nocase.noaccent")),
                pair("d", None),
                pair("e", None),
                pair("u", Some("NOCASE")),
            ]
        );
    }

    #[test]
    fn text_fields_take_the_declared_or_default_collation() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("Name", DataType::Utf8, true),
            Field::new("code", DataType::Utf8, true),
            Field::new("added", DataType::Utf8, true),
        ]);
        let create = "CREATE TABLE t (id INTEGER, name TEXT COLLATE NOCASE, code TEXT)";
        assert_eq!(
            collations_of(create, &schema, "BINARY"),
            [None, Some("NOCASE".into()), Some("BINARY".into()), None]
        );
        assert_eq!(
            collations_of("CREATE VIEW v AS SELECT 1", &schema, "BINARY"),
            [None, None, None, None]
        );
    }
}
