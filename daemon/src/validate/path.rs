//! A field's path in a request (`report.sources[2].url`), spelled out
//! only when a rule refuses it. Building every path as a string before
//! checking its field cost more than the checks: about a quarter of
//! validation's instructions per report (docs/benchmarks.md, bulk
//! ingest).

use std::fmt;

/// A path: a name, a named field under a path, or an item of a list.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    Name(&'a str),
    Child(&'a Field<'a>, &'a str),
    Item(&'a Field<'a>, usize),
}

impl<'a> Field<'a> {
    /// `self.name`.
    pub fn child(&'a self, name: &'a str) -> Field<'a> {
        Field::Child(self, name)
    }

    /// `self[i]`.
    pub fn item(&'a self, i: usize) -> Field<'a> {
        Field::Item(self, i)
    }
}

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Name(name) => f.write_str(name),
            Field::Child(parent, name) => write!(f, "{parent}.{name}"),
            Field::Item(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

impl<'a> From<&'a str> for Field<'a> {
    fn from(name: &'a str) -> Self {
        Field::Name(name)
    }
}

impl<'a> From<&'a String> for Field<'a> {
    fn from(name: &'a String) -> Self {
        Field::Name(name)
    }
}

impl<'a> From<&'a Field<'a>> for Field<'a> {
    fn from(field: &'a Field<'a>) -> Self {
        *field
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_spell_as_the_request_names_them() {
        let report = Field::from("report");
        let sources = report.child("sources");
        let second = sources.item(2);
        assert_eq!(second.child("url").to_string(), "report.sources[2].url");
        let tags = Field::from("report.tags");
        assert_eq!(tags.item(0).to_string(), "report.tags[0]");
    }
}
