//! One serde pass that gives a fault its kind, its trace fields and its Rust
//! literal, so a family writes its fault type once (the enum and its serde
//! attributes) and nothing per variant.
//!
//! Owns [`Node`], an order-preserving tree of what serde saw (field order as
//! declared, enum type names kept), and the three renderings of it. It must
//! never be used for anything but plain data: a value that serde cannot
//! describe renders as `?`.

use serde::ser::{self, Serialize};
use std::fmt::{self, Write};

/// What serde saw of a value, in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Unit,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Some(Box<Node>),
    None,
    /// A unit variant of an enum type (`Phase::Fragment`).
    Variant {
        ty: &'static str,
        name: &'static str,
    },
    Seq(Vec<Node>),
    /// A struct, a struct variant, a map or an internally tagged variant.
    Fields {
        ty: &'static str,
        fields: Vec<(String, Node)>,
    },
    /// A newtype or tuple variant (`Kind::Named(x)`).
    Tuple {
        ty: &'static str,
        name: &'static str,
        items: Vec<Node>,
    },
}

impl Node {
    /// The tree of `value`.
    pub(crate) fn of<T: Serialize + ?Sized>(value: &T) -> Node {
        value.serialize(NodeSer).unwrap_or(Node::Str("?".into()))
    }

    /// The `kind` tag of an internally tagged enum value, if it is one.
    pub(crate) fn tag(&self) -> Option<&str> {
        match self {
            Node::Fields { fields, .. } => match fields.first() {
                Some((k, Node::Str(s))) if k == "kind" => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// The fields after the tag.
    fn untagged_fields(&self) -> &[(String, Node)] {
        match self {
            Node::Fields { fields, .. } if self.tag().is_some() => &fields[1..],
            Node::Fields { fields, .. } => fields,
            _ => &[],
        }
    }

    /// ` key=value` for every field after the tag (the trace line's form).
    pub(crate) fn write_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in self.untagged_fields() {
            write!(f, " {k}=")?;
            v.write_value(f)?;
        }
        Ok(())
    }

    fn write_value(&self, f: &mut dyn Write) -> fmt::Result {
        match self {
            Node::Unit | Node::None => f.write_str("none"),
            Node::Bool(b) => write!(f, "{b}"),
            Node::Int(i) => write!(f, "{i}"),
            Node::Float(x) => write!(f, "{x}"),
            Node::Str(s) => f.write_str(s),
            Node::Some(inner) => inner.write_value(f),
            Node::Variant { name, .. } => f.write_str(name),
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    item.write_value(f)?;
                }
                Ok(())
            }
            Node::Fields { fields, .. } => {
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{k}:")?;
                    v.write_value(f)?;
                }
                Ok(())
            }
            Node::Tuple { name, items, .. } => {
                write!(f, "{name}(")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    item.write_value(f)?;
                }
                f.write_char(')')
            }
        }
    }

    /// A Rust expression that rebuilds the value, the enum named `ty`.
    /// `debug` is the value's `Debug` text: serde knows only renamed
    /// variant names (`x-upload`, `set_source`), so the Rust names
    /// of the variant and of its unit-variant fields are read from it.
    pub(crate) fn literal(&self, ty: &str, debug: &str) -> String {
        let mut s = String::new();
        match self.tag() {
            Some(tag) => {
                let variant = leading_ident(debug)
                    .map(str::to_string)
                    .unwrap_or_else(|| camel(tag));
                let _ = write!(s, "{ty}::{variant}");
                let fields = self.untagged_fields();
                if !fields.is_empty() {
                    s.push_str(" { ");
                    for (i, (k, v)) in fields.iter().enumerate() {
                        if i > 0 {
                            s.push_str(", ");
                        }
                        let _ = write!(s, "{k}: ");
                        match v {
                            Node::Variant { ty, .. } => match field_ident(debug, k) {
                                Some(name) => {
                                    let _ = write!(s, "{ty}::{name}");
                                }
                                None => v.write_literal(&mut s),
                            },
                            _ => v.write_literal(&mut s),
                        }
                    }
                    s.push_str(" }");
                }
            }
            None => self.write_literal(&mut s),
        }
        s
    }

    fn write_literal(&self, s: &mut String) {
        match self {
            Node::Unit => s.push_str("()"),
            Node::Bool(b) => {
                let _ = write!(s, "{b}");
            }
            Node::Int(i) => {
                let _ = write!(s, "{i}");
            }
            Node::Float(x) => {
                let _ = write!(s, "{x:?}");
            }
            Node::Str(v) => {
                let _ = write!(s, "{v:?}.into()");
            }
            Node::Some(inner) => {
                s.push_str("Some(");
                inner.write_literal(s);
                s.push(')');
            }
            Node::None => s.push_str("None"),
            Node::Variant { ty, name } => {
                let _ = write!(s, "{ty}::{}", camel(name));
            }
            Node::Seq(items) => {
                s.push_str("vec![");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    item.write_literal(s);
                }
                s.push(']');
            }
            Node::Fields { ty, fields } => {
                let _ = write!(s, "{ty} {{ ");
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    let _ = write!(s, "{k}: ");
                    v.write_literal(s);
                }
                s.push_str(" }");
            }
            Node::Tuple { ty, name, items } => {
                let _ = write!(s, "{ty}::{}(", camel(name));
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    item.write_literal(s);
                }
                s.push(')');
            }
        }
    }
}

/// The identifier a `Debug` text starts with (a derived `Debug` prints the
/// Rust variant name first).
fn leading_ident(debug: &str) -> Option<&str> {
    let end = debug
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(debug.len());
    (end > 0).then(|| &debug[..end])
}

/// The identifier after `field: ` in a derived `Debug` text.
fn field_ident<'a>(debug: &'a str, field: &str) -> Option<&'a str> {
    let needle = format!(" {field}: ");
    let at = debug.find(&needle)? + needle.len();
    leading_ident(&debug[at..])
}

/// `link-latency` / `on_start` → `LinkLatency` / `OnStart`.
pub(crate) fn camel(name: &str) -> String {
    name.split(['-', '_'])
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// serde's error type for [`NodeSer`] (only custom messages).
#[derive(Debug)]
pub(crate) struct NodeError(String);

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NodeError {}

impl ser::Error for NodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        NodeError(msg.to_string())
    }
}

struct NodeSer;

/// A compound value being collected.
pub(crate) struct Collect {
    ty: &'static str,
    name: &'static str,
    items: Vec<Node>,
    fields: Vec<(String, Node)>,
    key: Option<String>,
    tuple: bool,
}

impl Collect {
    fn new(ty: &'static str, name: &'static str, tuple: bool) -> Collect {
        Collect {
            ty,
            name,
            items: Vec::new(),
            fields: Vec::new(),
            key: None,
            tuple,
        }
    }

    fn fields(self) -> Node {
        Node::Fields {
            ty: self.ty,
            fields: self.fields,
        }
    }
}

impl ser::Serializer for NodeSer {
    type Ok = Node;
    type Error = NodeError;
    type SerializeSeq = Collect;
    type SerializeTuple = Collect;
    type SerializeTupleStruct = Collect;
    type SerializeTupleVariant = Collect;
    type SerializeMap = Collect;
    type SerializeStruct = Collect;
    type SerializeStructVariant = Collect;

    fn serialize_bool(self, v: bool) -> Result<Node, NodeError> {
        Ok(Node::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Node, NodeError> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Node, NodeError> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Node, NodeError> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Node, NodeError> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_u8(self, v: u8) -> Result<Node, NodeError> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Node, NodeError> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Node, NodeError> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Node, NodeError> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_f32(self, v: f32) -> Result<Node, NodeError> {
        Ok(Node::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Node, NodeError> {
        Ok(Node::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Node, NodeError> {
        Ok(Node::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Node, NodeError> {
        Ok(Node::Str(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Node, NodeError> {
        Ok(Node::Seq(
            v.iter().map(|b| Node::Int((*b).into())).collect(),
        ))
    }
    fn serialize_none(self) -> Result<Node, NodeError> {
        Ok(Node::None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Node, NodeError> {
        Ok(Node::Some(Box::new(value.serialize(NodeSer)?)))
    }
    fn serialize_unit(self) -> Result<Node, NodeError> {
        Ok(Node::Unit)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Node, NodeError> {
        Ok(Node::Unit)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Node, NodeError> {
        Ok(Node::Variant {
            ty: name,
            name: variant,
        })
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Node, NodeError> {
        value.serialize(NodeSer)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Node, NodeError> {
        Ok(Node::Tuple {
            ty: name,
            name: variant,
            items: vec![value.serialize(NodeSer)?],
        })
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Collect, NodeError> {
        Ok(Collect::new("", "", true))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Collect, NodeError> {
        Ok(Collect::new("", "", true))
    }
    fn serialize_tuple_struct(self, name: &'static str, _len: usize) -> Result<Collect, NodeError> {
        Ok(Collect::new(name, "", true))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Collect, NodeError> {
        Ok(Collect::new(name, variant, true))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Collect, NodeError> {
        Ok(Collect::new("", "", false))
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Collect, NodeError> {
        Ok(Collect::new(name, "", false))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Collect, NodeError> {
        // Externally tagged struct variants read like internally tagged ones.
        let mut c = Collect::new(name, variant, false);
        c.fields.push(("kind".into(), Node::Str(variant.into())));
        Ok(c)
    }
}

impl ser::SerializeSeq for Collect {
    type Ok = Node;
    type Error = NodeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NodeError> {
        self.items.push(value.serialize(NodeSer)?);
        Ok(())
    }
    fn end(self) -> Result<Node, NodeError> {
        Ok(Node::Seq(self.items))
    }
}

impl ser::SerializeTuple for Collect {
    type Ok = Node;
    type Error = NodeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NodeError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Node, NodeError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Collect {
    type Ok = Node;
    type Error = NodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NodeError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Node, NodeError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for Collect {
    type Ok = Node;
    type Error = NodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NodeError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Node, NodeError> {
        debug_assert!(self.tuple);
        Ok(Node::Tuple {
            ty: self.ty,
            name: self.name,
            items: self.items,
        })
    }
}

impl ser::SerializeMap for Collect {
    type Ok = Node;
    type Error = NodeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), NodeError> {
        let mut k = String::new();
        let _ = key.serialize(NodeSer)?.write_value(&mut k);
        self.key = Some(k);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NodeError> {
        let key = self.key.take().unwrap_or_default();
        self.fields.push((key, value.serialize(NodeSer)?));
        Ok(())
    }
    fn end(self) -> Result<Node, NodeError> {
        Ok(self.fields())
    }
}

impl ser::SerializeStruct for Collect {
    type Ok = Node;
    type Error = NodeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), NodeError> {
        self.fields.push((key.into(), value.serialize(NodeSer)?));
        Ok(())
    }
    fn end(self) -> Result<Node, NodeError> {
        Ok(self.fields())
    }
}

impl ser::SerializeStructVariant for Collect {
    type Ok = Node;
    type Error = NodeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), NodeError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<Node, NodeError> {
        Ok(self.fields())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize, Clone, Copy, Debug)]
    #[serde(rename_all = "snake_case")]
    enum Phase {
        OnStart,
    }

    #[derive(Serialize, Debug)]
    #[serde(tag = "kind", rename_all = "kebab-case")]
    enum Fault {
        LinkLatency { min_ms: u64, max_ms: u64 },
        Connect,
        Catalog { tracks: Vec<String>, phase: Phase },
    }

    #[derive(Serialize, Debug)]
    enum Cmd {
        #[serde(rename = "set_source")]
        Source,
    }

    #[derive(Serialize, Debug)]
    #[serde(tag = "kind")]
    enum Renamed {
        #[serde(rename = "x-upload")]
        Upload { cmd: Cmd },
    }

    struct Fields<'a>(&'a Node);
    impl fmt::Display for Fields<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.write_fields(f)
        }
    }

    #[test]
    fn tag_fields_and_literal_come_from_one_serde_pass() {
        let n = Node::of(&Fault::LinkLatency {
            min_ms: 1,
            max_ms: 20,
        });
        assert_eq!(n.tag(), Some("link-latency"));
        assert_eq!(Fields(&n).to_string(), " min_ms=1 max_ms=20");
        assert_eq!(
            n.literal("Fault", "LinkLatency { min_ms: 1, max_ms: 20 }"),
            "Fault::LinkLatency { min_ms: 1, max_ms: 20 }"
        );
        let n = Node::of(&Fault::Connect);
        assert_eq!(n.literal("Fault", "Connect"), "Fault::Connect");
        assert_eq!(Fields(&n).to_string(), "");
        let f = Fault::Catalog {
            tracks: vec!["cam".into(), "mic".into()],
            phase: Phase::OnStart,
        };
        let n = Node::of(&f);
        assert_eq!(Fields(&n).to_string(), " tracks=cam,mic phase=on_start");
        assert_eq!(
            n.literal("Fault", &format!("{f:?}")),
            "Fault::Catalog { tracks: vec![\"cam\".into(), \"mic\".into()], phase: Phase::OnStart }"
        );
        // Renamed variants keep their Rust names in the literal.
        let f = Renamed::Upload { cmd: Cmd::Source };
        let n = Node::of(&f);
        assert_eq!(n.tag(), Some("x-upload"));
        assert_eq!(Fields(&n).to_string(), " cmd=set_source");
        assert_eq!(
            n.literal("Fault", &format!("{f:?}")),
            "Fault::Upload { cmd: Cmd::Source }"
        );
    }
}
