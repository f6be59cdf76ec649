//! Stripe's wire format for parameters: `application/x-www-form-urlencoded` pairs whose keys
//! carry nesting in brackets (`metadata[plan]=pro`, `items[0][price]=price_1`, `expand[]=x`).
//!
//! [`parse`] turns a body or a query string into a JSON tree of strings, objects and arrays, so
//! the handlers read parameters the way Stripe documents them. Values stay strings here; the
//! typed reading (integers, booleans) happens in `stripe::params`, which knows each field's type.
//!
//! Splitting pairs and percent-decoding is the `form_urlencoded` crate's job (the WHATWG
//! algorithm browsers use). The bracket nesting on top is written by hand rather than with
//! `serde_qs`-like crates because Stripe's rules (indexed and `[]` arrays, errors naming the
//! offending parameter) are small and worth being exact about; Stripe's own mock does the same.

use serde_json::{Map, Value};

/// Why a form body could not be read; `param` names the offending key as Stripe would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FormError {
    /// The parameter (top-level key as sent) that could not be parsed.
    pub param: String,
    /// A message in Stripe's style.
    pub message: String,
}

/// Parses `a=1&b[c]=2&d[]=3&e[0][f]=4` into `{"a":"1","b":{"c":"2"},"d":["3"],"e":[{"f":"4"}]}`.
///
/// `+` is a space, `%XX` is percent-decoded (invalid UTF-8 is replaced, never rejected), empty
/// pairs are skipped. A key with unbalanced brackets, a key used both as a scalar and as a
/// container, or an array index that skips ahead is an error naming the key.
pub fn parse(input: &[u8]) -> Result<Value, FormError> {
    let mut root = Map::new();
    for (key, value) in form_urlencoded::parse(input) {
        if key.is_empty() {
            continue;
        }
        let path = split_key(&key)?;
        insert(&mut root, &key, &path, value.into_owned())?;
    }
    Ok(Value::Object(root))
}

/// Deepest nesting accepted; Stripe's own parameters go three or four levels deep, and a bound
/// keeps a hostile key from exhausting the stack of the recursive insert.
const MAX_DEPTH: usize = 16;

/// One step in a bracketed key.
#[derive(Debug, PartialEq)]
enum Segment<'a> {
    Name(&'a str),
    /// `[]`: append a new element.
    Append,
    /// `[3]`: the element at that index.
    Index(usize),
}

fn split_key(key: &str) -> Result<Vec<Segment<'_>>, FormError> {
    let bad = || FormError {
        param: key.to_string(),
        message: format!("Invalid parameter name: {key} has unbalanced or misplaced brackets."),
    };
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => {
            if key.contains(']') {
                return Err(bad());
            }
            return Ok(vec![Segment::Name(key)]);
        }
    };
    if head.is_empty() || head.contains(']') {
        return Err(bad());
    }
    let mut path = vec![Segment::Name(head)];
    while !rest.is_empty() {
        if !rest.starts_with('[') {
            return Err(bad());
        }
        let close = rest.find(']').ok_or_else(bad)?;
        let inner = &rest[1..close];
        if inner.contains('[') {
            return Err(bad());
        }
        path.push(if inner.is_empty() {
            Segment::Append
        } else if inner.bytes().all(|b| b.is_ascii_digit()) {
            Segment::Index(inner.parse().map_err(|_| bad())?)
        } else {
            Segment::Name(inner)
        });
        rest = &rest[close + 1..];
        if path.len() > MAX_DEPTH {
            return Err(FormError {
                param: head.to_string(),
                message: format!("Invalid parameter name: {head} is nested more than {MAX_DEPTH} levels deep."),
            });
        }
    }
    Ok(path)
}

fn insert(root: &mut Map<String, Value>, key: &str, path: &[Segment<'_>], value: String) -> Result<(), FormError> {
    let top = match path.first() {
        Some(Segment::Name(name)) => *name,
        _ => return Err(conflict(key)),
    };
    if path.len() == 1 {
        // A repeated scalar key keeps the last value, as most form decoders do.
        if matches!(root.get(top), Some(Value::Object(_)) | Some(Value::Array(_))) {
            return Err(conflict(top));
        }
        root.insert(top.to_string(), Value::String(value));
        return Ok(());
    }
    let slot = root.entry(top.to_string()).or_insert_with(|| empty_container(&path[1]));
    insert_into(slot, top, &path[1..], value)
}

fn insert_into(slot: &mut Value, top: &str, path: &[Segment<'_>], value: String) -> Result<(), FormError> {
    let (first, rest) = match path.split_first() {
        Some(split) => split,
        None => return Err(conflict(top)),
    };
    let child: &mut Value = match (first, slot) {
        (Segment::Name(name), Value::Object(map)) => {
            if rest.is_empty() {
                if matches!(map.get(*name), Some(Value::Object(_)) | Some(Value::Array(_))) {
                    return Err(conflict(top));
                }
                map.insert(name.to_string(), Value::String(value));
                return Ok(());
            }
            map.entry(name.to_string()).or_insert_with(|| empty_container(&rest[0]))
        }
        (Segment::Append, Value::Array(items)) => {
            if rest.is_empty() {
                items.push(Value::String(value));
                return Ok(());
            }
            items.push(empty_container(&rest[0]));
            let last = items.len() - 1;
            &mut items[last]
        }
        (Segment::Index(index), Value::Array(items)) => {
            if *index > items.len() {
                return Err(FormError {
                    param: top.to_string(),
                    message: format!("Invalid array: {top} skips from index {} to {index}.", items.len()),
                });
            }
            if rest.is_empty() {
                if *index == items.len() {
                    items.push(Value::String(value));
                } else if items[*index].is_string() {
                    items[*index] = Value::String(value);
                } else {
                    return Err(conflict(top));
                }
                return Ok(());
            }
            if *index == items.len() {
                items.push(empty_container(&rest[0]));
            }
            &mut items[*index]
        }
        _ => return Err(conflict(top)),
    };
    if child.is_string() {
        return Err(conflict(top));
    }
    insert_into(child, top, rest, value)
}

fn empty_container(next: &Segment<'_>) -> Value {
    match next {
        Segment::Name(_) => Value::Object(Map::new()),
        Segment::Append | Segment::Index(_) => Value::Array(Vec::new()),
    }
}

fn conflict(param: &str) -> FormError {
    FormError {
        param: param.to_string(),
        message: format!("Invalid parameter: {param} is sent both as a value and as a hash or array; send it one way."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(input: &str) -> Value {
        parse(input.as_bytes()).expect("valid form")
    }

    fn rejected(input: &str) -> FormError {
        parse(input.as_bytes()).expect_err("invalid form")
    }

    #[test]
    fn flat_pairs_become_strings() {
        assert_eq!(parsed("email=a%40b.co&name=Ada+Lovelace"), json!({"email": "a@b.co", "name": "Ada Lovelace"}));
    }

    #[test]
    fn nested_keys_become_objects() {
        assert_eq!(
            parsed("metadata[plan]=pro&invoice_settings[default_payment_method]=pm_1"),
            json!({"metadata": {"plan": "pro"}, "invoice_settings": {"default_payment_method": "pm_1"}})
        );
    }

    #[test]
    fn empty_brackets_and_indexes_become_arrays() {
        assert_eq!(
            parsed("expand[]=a&expand[]=b&items[0][price]=p1&items[0][quantity]=2&items[1][price]=p2"),
            json!({"expand": ["a", "b"], "items": [{"price": "p1", "quantity": "2"}, {"price": "p2"}]})
        );
    }

    #[test]
    fn percent_encoded_brackets_in_keys_are_decoded_first() {
        assert_eq!(parsed("metadata%5Bplan%5D=pro"), json!({"metadata": {"plan": "pro"}}));
    }

    #[test]
    fn a_malformed_escape_is_kept_literally() {
        assert_eq!(parsed("a=100%&b=%zz&c=%4"), json!({"a": "100%", "b": "%zz", "c": "%4"}));
    }

    #[test]
    fn a_key_without_value_is_an_empty_string() {
        assert_eq!(parsed("description=&x&&"), json!({"description": "", "x": ""}));
    }

    #[test]
    fn unbalanced_brackets_are_rejected_naming_the_key() {
        assert_eq!(rejected("a[=1").param, "a[");
        assert_eq!(rejected("a]=1").param, "a]");
        assert_eq!(rejected("[a]=1").param, "[a]");
        assert_eq!(rejected("a[b]c=1").param, "a[b]c");
    }

    #[test]
    fn a_key_used_as_value_and_container_is_rejected() {
        assert_eq!(rejected("a=1&a[b]=2").param, "a");
        assert_eq!(rejected("a[b]=2&a=1").param, "a");
        assert_eq!(rejected("a[b]=1&a[b][c]=2").param, "a");
        assert_eq!(rejected("a[]=1&a[b]=2").param, "a");
    }

    #[test]
    fn absurdly_deep_nesting_is_rejected() {
        let key = format!("a{}", "[b]".repeat(100));
        assert_eq!(rejected(&format!("{key}=1")).param, "a");
    }

    #[test]
    fn an_index_that_skips_ahead_is_rejected() {
        assert_eq!(rejected("items[1][price]=p").param, "items");
    }
}
