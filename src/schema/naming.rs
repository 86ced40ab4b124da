//! `--naming keep|lower|snake_case`: how copied tables, columns, keys and
//! foreign keys are named in the target. One [`Naming`] maps every name, so
//! a foreign key's columns and the key it references stay consistent.

use heck::ToSnakeCase;

/// How names change on their way to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Naming {
    /// Names as the source spells them.
    #[default]
    Keep,
    /// Lower case (`InvoiceLine` → `invoiceline`).
    Lower,
    /// snake_case (`InvoiceLine.InvoiceLineId` → `invoice_line.invoice_line_id`).
    #[value(name = "snake_case", alias = "snake-case")]
    SnakeCase,
}

impl Naming {
    /// The target name of a source name.
    pub fn apply(self, name: &str) -> String {
        match self {
            Naming::Keep => name.to_string(),
            Naming::Lower => name.to_lowercase(),
            Naming::SnakeCase => name.to_snake_case(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_splits_pascal_case_words() {
        let n = Naming::SnakeCase;
        assert_eq!(n.apply("InvoiceLine"), "invoice_line");
        assert_eq!(n.apply("InvoiceLineId"), "invoice_line_id");
        assert_eq!(n.apply("customer_id"), "customer_id");
        assert_eq!(n.apply("HTTPStatus"), "http_status");
        assert_eq!(Naming::Lower.apply("InvoiceLine"), "invoiceline");
        assert_eq!(Naming::Keep.apply("InvoiceLine"), "InvoiceLine");
    }
}
