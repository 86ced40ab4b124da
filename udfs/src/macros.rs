//! SQL macros: expressions a pipeline names once under `[functions]` and
//! calls in its steps like functions.
//!
//! ```toml
//! [functions]
//! full_name = "concat(first_name, ' ', last_name)"      # no parameters: the row's columns
//!
//! [functions.initials]
//! args = ["first", "last"]
//! sql = "concat(left(first, 1), left(last, 1))"
//! ```
//!
//! A step's `full_name()` and `initials(c.first_name, c.last_name)` are
//! replaced by their bodies before DataFusion plans the step: the statement is
//! parsed (sqlparser, as DataFusion does), every call of a macro in its syntax
//! tree is replaced by the macro's body with each parameter replaced by the
//! call's argument (in parentheses, so precedence holds), and the tree is
//! written back as SQL. So a macro is only shorthand: what runs, what `barge
//! plan` shows and what is pushed to a source is the expanded SQL.
//!
//! Rules: a macro's name is an identifier that is not a function name
//! (built-in or barge's); its body is one SQL expression; parameters are
//! distinct identifiers, matched in the body as written (unqualified names
//! only: `t.first` is a column, not the parameter); a call gives exactly one
//! argument per parameter, plainly (no `DISTINCT`, `ORDER BY`, `FILTER`,
//! `OVER` or named arguments); macro names are matched regardless of case.
//! A body may call other macros; a macro that reaches itself is refused.

use std::collections::{BTreeMap, HashSet};
use std::ops::ControlFlow;

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectNamePart,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

/// A macro as declared: `name(params) = body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlMacro {
    pub name: String,
    pub params: Vec<String>,
    pub body: String,
}

/// What is wrong with a macro or one of its calls; the message names the
/// macro and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroError {
    /// The macro at fault (its declaration is where to look).
    pub name: String,
    pub message: String,
}

impl std::fmt::Display for MacroError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MacroError {}

fn error(name: &str, message: String) -> MacroError {
    MacroError {
        name: name.to_string(),
        message,
    }
}

/// A macro ready to expand: its body parsed, with every macro it calls
/// already expanded.
#[derive(Debug, Clone)]
struct Resolved {
    name: String,
    params: Vec<String>,
    body: Expr,
}

/// A pipeline's macros.
#[derive(Debug, Clone, Default)]
pub struct SqlMacros {
    /// By lowercase name.
    macros: BTreeMap<String, Resolved>,
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every function name a session knows (DataFusion's and barge's), lowercase.
fn function_names() -> HashSet<String> {
    let ctx = SessionContext::new();
    crate::register_all(&ctx, crate::Options::default());
    let state = ctx.state();
    state
        .scalar_functions()
        .keys()
        .chain(state.aggregate_functions().keys())
        .chain(state.window_functions().keys())
        .map(|n| n.to_lowercase())
        .collect()
}

fn parse_expr(text: &str) -> Result<Expr, String> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| e.to_string())?;
    let expr = parser.parse_expr().map_err(|e| e.to_string())?;
    match parser.peek_token().token {
        Token::EOF => Ok(expr),
        other => Err(format!(
            "unexpected `{other}` after the expression: the body is one expression, not a query or a list"
        )),
    }
}

impl SqlMacros {
    /// Checks and resolves `defs`: names, parameters, bodies, and calls
    /// between macros (cycles are refused).
    pub fn new(defs: Vec<SqlMacro>) -> Result<Self, MacroError> {
        if defs.is_empty() {
            return Ok(Self::default());
        }
        let builtins = function_names();
        let mut parsed: BTreeMap<String, SqlMacro> = BTreeMap::new();
        let mut bodies: BTreeMap<String, Expr> = BTreeMap::new();
        for def in defs {
            let name = &def.name;
            if !is_identifier(name) {
                return Err(error(name, format!("macro '{name}': the name must be an identifier (letters, digits and _, not starting with a digit)")));
            }
            let key = name.to_lowercase();
            if builtins.contains(&key) {
                return Err(error(name, format!("macro '{name}': a function of that name already exists; give the macro another name")));
            }
            if parsed.contains_key(&key) {
                return Err(error(
                    name,
                    format!(
                        "macro '{name}' is declared twice (names are compared regardless of case)"
                    ),
                ));
            }
            let mut seen = HashSet::new();
            for p in &def.params {
                if !is_identifier(p) {
                    return Err(error(name, format!("macro '{name}': parameter '{p}' must be an identifier (letters, digits and _)")));
                }
                if !seen.insert(p.as_str()) {
                    return Err(error(
                        name,
                        format!("macro '{name}': parameter '{p}' is listed twice"),
                    ));
                }
            }
            let body = parse_expr(&def.body).map_err(|e| {
                error(
                    name,
                    format!("macro '{name}': its sql is not an SQL expression: {e}"),
                )
            })?;
            bodies.insert(key.clone(), body);
            parsed.insert(key, def);
        }
        let mut out = Self::default();
        for key in parsed.keys() {
            out.resolve(key, &parsed, &bodies, &mut Vec::new())?;
        }
        Ok(out)
    }

    /// Resolves macro `key` (and those it calls) into `self.macros`.
    fn resolve(
        &mut self,
        key: &str,
        defs: &BTreeMap<String, SqlMacro>,
        bodies: &BTreeMap<String, Expr>,
        stack: &mut Vec<String>,
    ) -> Result<(), MacroError> {
        if self.macros.contains_key(key) {
            return Ok(());
        }
        let def = &defs[key];
        if let Some(at) = stack.iter().position(|k| k == key) {
            let mut cycle: Vec<&str> = stack[at..].iter().map(|k| defs[k].name.as_str()).collect();
            cycle.push(&def.name);
            return Err(error(
                &def.name,
                format!(
                    "macro '{}' calls itself ({}); macros cannot be recursive: write the expression out",
                    def.name,
                    cycle.join(" -> ")
                ),
            ));
        }
        stack.push(key.to_string());
        let mut body = bodies[key].clone();
        // Resolve the macros the body calls first.
        let mut called = Vec::new();
        let _ = visit_expressions_mut(&mut body, |e| {
            if let Some(k) = macro_key(e, defs) {
                called.push(k);
            }
            ControlFlow::<()>::Continue(())
        });
        for k in called {
            self.resolve(&k, defs, bodies, stack)?;
        }
        stack.pop();
        self.expand_expr(&mut body, &format!("macro '{}'", def.name))?;
        self.macros.insert(
            key.to_string(),
            Resolved {
                name: def.name.clone(),
                params: def.params.clone(),
                body,
            },
        );
        Ok(())
    }

    /// Whether there is no macro.
    pub fn is_empty(&self) -> bool {
        self.macros.is_empty()
    }

    /// `sql` with every macro call expanded, or `None` when it calls none
    /// (or does not parse: DataFusion then reports the syntax error). `what`
    /// names where the SQL is from, for messages (e.g. "step 'users'").
    pub fn expand(&self, sql: &str, what: &str) -> Result<Option<String>, MacroError> {
        if self.macros.is_empty() {
            return Ok(None);
        }
        let lower = sql.to_lowercase();
        if !self.macros.keys().any(|k| lower.contains(k.as_str())) {
            return Ok(None);
        }
        let dialect = GenericDialect {};
        let Ok(mut statements) = Parser::parse_sql(&dialect, sql) else {
            return Ok(None);
        };
        let mut used = false;
        for statement in &mut statements {
            used |= self.expand_in(statement, what)?;
        }
        if !used {
            return Ok(None);
        }
        Ok(Some(
            statements
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(";\n"),
        ))
    }

    fn expand_expr(&self, expr: &mut Expr, what: &str) -> Result<bool, MacroError> {
        self.expand_in(expr, what)
    }

    /// Replaces the macro calls in `node`; whether there was one.
    fn expand_in<N: datafusion::sql::sqlparser::ast::VisitMut>(
        &self,
        node: &mut N,
        what: &str,
    ) -> Result<bool, MacroError> {
        let mut used = false;
        let flow = visit_expressions_mut(node, |e| {
            let Expr::Function(f) = &*e else {
                return ControlFlow::Continue(());
            };
            let Some(m) = single_name(&f.name).and_then(|n| self.lookup(n)) else {
                return ControlFlow::Continue(());
            };
            match self.call(m, f, what) {
                Ok(expanded) => {
                    *e = expanded;
                    used = true;
                    ControlFlow::Continue(())
                }
                Err(err) => ControlFlow::Break(err),
            }
        });
        match flow {
            ControlFlow::Break(err) => Err(err),
            ControlFlow::Continue(()) => Ok(used),
        }
    }

    fn lookup(&self, ident: &datafusion::sql::sqlparser::ast::Ident) -> Option<&Resolved> {
        let found = self.macros.get(&ident.value.to_lowercase())?;
        // A quoted name is matched exactly.
        (ident.quote_style.is_none() || ident.value == found.name).then_some(found)
    }

    /// The body of `m` with its parameters replaced by the arguments of `f`.
    fn call(
        &self,
        m: &Resolved,
        f: &datafusion::sql::sqlparser::ast::Function,
        what: &str,
    ) -> Result<Expr, MacroError> {
        let name = &m.name;
        let usage = format!("{name}({})", m.params.join(", "));
        let plain = f.filter.is_none()
            && f.over.is_none()
            && f.null_treatment.is_none()
            && f.within_group.is_empty()
            && matches!(f.parameters, FunctionArguments::None);
        let args: Vec<&Expr> = match &f.args {
            FunctionArguments::None => Vec::new(),
            FunctionArguments::List(list)
                if list.duplicate_treatment.is_none() && list.clauses.is_empty() =>
            {
                let mut out = Vec::new();
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => out.push(e),
                        _ => {
                            return Err(error(name, format!("{what}: macro '{name}' takes plain arguments: {usage}; named arguments and * are not expanded")));
                        }
                    }
                }
                out
            }
            _ => {
                return Err(error(name, format!("{what}: macro '{name}' is called with clauses it cannot take; call it as {usage}")));
            }
        };
        if !plain {
            return Err(error(name, format!("{what}: macro '{name}' is an expression, not an aggregate or window function: FILTER, OVER and WITHIN GROUP do not apply; call it as {usage}")));
        }
        if args.len() != m.params.len() {
            return Err(error(
                name,
                format!(
                    "{what}: macro '{name}' takes {} argument{}, got {}; call it as {usage}",
                    m.params.len(),
                    if m.params.len() == 1 { "" } else { "s" },
                    args.len()
                ),
            ));
        }
        let mut body = m.body.clone();
        if !m.params.is_empty() {
            let _ = visit_expressions_mut(&mut body, |e| {
                if let Expr::Identifier(ident) = &*e {
                    if let Some(i) = m.params.iter().position(|p| *p == ident.value) {
                        *e = parenthesized(args[i].clone());
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
        Ok(parenthesized(body))
    }
}

/// `e` in parentheses unless it is one term already (a name, a literal, a
/// function call, or parenthesized), so a substituted expression keeps its
/// precedence and the expanded SQL stays readable.
fn parenthesized(e: Expr) -> Expr {
    match e {
        Expr::Identifier(_)
        | Expr::CompoundIdentifier(_)
        | Expr::Value(_)
        | Expr::Function(_)
        | Expr::Nested(_) => e,
        other => Expr::Nested(Box::new(other)),
    }
}

/// The one identifier of a function name (`f`, not `schema.f`).
fn single_name(
    name: &datafusion::sql::sqlparser::ast::ObjectName,
) -> Option<&datafusion::sql::sqlparser::ast::Ident> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(ident),
        _ => None,
    }
}

/// The key of the macro `e` calls, if it calls one of `defs`.
fn macro_key(e: &Expr, defs: &BTreeMap<String, SqlMacro>) -> Option<String> {
    let Expr::Function(f) = e else { return None };
    let ident = single_name(&f.name)?;
    let key = ident.value.to_lowercase();
    defs.contains_key(&key).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, params: &[&str], body: &str) -> SqlMacro {
        SqlMacro {
            name: name.into(),
            params: params.iter().map(|p| p.to_string()).collect(),
            body: body.into(),
        }
    }

    fn macros() -> SqlMacros {
        SqlMacros::new(vec![
            m("full_name", &[], "concat(first_name, ' ', last_name)"),
            m(
                "initials",
                &["first", "last"],
                "concat(left(first, 1), left(last, 1))",
            ),
            m("double", &["x"], "x * 2"),
            m("quad", &["x"], "double(double(x))"),
        ])
        .unwrap()
    }

    fn expand(sql: &str) -> String {
        macros().expand(sql, "step 't'").unwrap().unwrap()
    }

    #[test]
    fn expands_calls_with_and_without_parameters() {
        assert_eq!(
            expand("SELECT full_name() AS n FROM src.users"),
            "SELECT concat(first_name, ' ', last_name) AS n FROM src.users"
        );
        assert_eq!(
            expand("SELECT INITIALS(u.first_name, u.last_name) FROM src.users u"),
            "SELECT concat(left(u.first_name, 1), left(u.last_name, 1)) FROM src.users u"
        );
    }

    #[test]
    fn keeps_precedence_and_nests() {
        assert_eq!(expand("SELECT double(a + 1)"), "SELECT ((a + 1) * 2)");
        assert_eq!(expand("SELECT quad(a)"), "SELECT ((a * 2) * 2)");
        assert_eq!(
            expand("SELECT double(double(a)) FROM t WHERE double(b) > 3"),
            "SELECT ((a * 2) * 2) FROM t WHERE (b * 2) > 3"
        );
    }

    #[test]
    fn leaves_other_sql_alone() {
        let ms = macros();
        assert_eq!(ms.expand("SELECT concat(a, b) FROM t", "s").unwrap(), None);
        // A column named like a macro is not a call.
        assert_eq!(ms.expand("SELECT double FROM t", "s").unwrap(), None);
        // Syntax errors are DataFusion's to report.
        assert_eq!(ms.expand("SELECT double(a FROM", "s").unwrap(), None);
        assert_eq!(
            SqlMacros::default()
                .expand("SELECT double(1)", "s")
                .unwrap(),
            None
        );
    }

    #[test]
    fn round_trips_the_rest_of_the_statement() {
        let sql = "SELECT CAST(o.id AS BIGINT) AS id, 'it''s' AS s, split_name(n)['first'] AS f, \
                   CASE WHEN o.x IS NULL THEN 0 ELSE double(o.x) END AS y \
                   FROM src.orders AS o LEFT JOIN src.c AS c ON c.id = o.c_id \
                   WHERE o.d >= DATE '2020-01-01' AND o.s IN ('A', 'B') ORDER BY 1 LIMIT 5";
        let out = expand(sql);
        assert!(out.contains("'it''s'"), "{out}");
        assert!(out.contains("split_name(n)['first']"), "{out}");
        assert!(out.contains("ELSE (o.x * 2) END"), "{out}");
        assert!(
            out.contains("LEFT JOIN src.c AS c ON c.id = o.c_id"),
            "{out}"
        );
    }

    #[test]
    fn wrong_calls_name_the_macro() {
        let err = macros()
            .expand("SELECT initials(a) FROM t", "step 'users'")
            .unwrap_err();
        assert_eq!(err.name, "initials");
        assert_eq!(
            err.message,
            "step 'users': macro 'initials' takes 2 arguments, got 1; call it as initials(first, last)"
        );
        let err = macros()
            .expand("SELECT double(a) OVER () FROM t", "s")
            .unwrap_err();
        assert!(
            err.message.contains("not an aggregate or window function"),
            "{err}"
        );
    }

    #[test]
    fn bad_declarations_are_refused() {
        let err = SqlMacros::new(vec![
            m("a", &[], "b() + 1"),
            m("b", &[], "c()"),
            m("c", &[], "a()"),
        ])
        .unwrap_err();
        assert!(
            err.message.contains("calls itself (a -> b -> c -> a)"),
            "{err}"
        );
        let err = SqlMacros::new(vec![m("f", &["x"], "f(x)")]).unwrap_err();
        assert!(
            err.message.contains("macro 'f' calls itself (f -> f)"),
            "{err}"
        );
        let err = SqlMacros::new(vec![m("concat", &[], "1")]).unwrap_err();
        assert!(
            err.message
                .contains("a function of that name already exists"),
            "{err}"
        );
        let err = SqlMacros::new(vec![m("stable_id", &[], "1")]).unwrap_err();
        assert!(err.message.contains("already exists"), "{err}");
        let err = SqlMacros::new(vec![m("f", &["x", "x"], "x")]).unwrap_err();
        assert!(
            err.message.contains("parameter 'x' is listed twice"),
            "{err}"
        );
        let err = SqlMacros::new(vec![m("f", &[], "SELECT 1")]).unwrap_err();
        assert!(
            err.message
                .starts_with("macro 'f': its sql is not an SQL expression"),
            "{err}"
        );
        let err = SqlMacros::new(vec![m("f", &[], "1, 2")]).unwrap_err();
        assert!(err.message.contains("unexpected `,`"), "{err}");
    }
}
