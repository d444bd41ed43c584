//! A small approximation of server-side apply's merge: maps merge key by key (recursively),
//! scalars and lists are replaced, `null` removes the field. Field ownership (managedFields) is
//! not tracked: the server neither removes fields another apply stopped setting nor reports
//! ownership conflicts.

use serde_json::Value;

pub(super) fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                match (base.get_mut(k), v) {
                    (_, Value::Null) => {
                        base.remove(k);
                    }
                    (Some(existing), _) if existing.is_object() && v.is_object() => {
                        merge(existing, v)
                    }
                    _ => {
                        base.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_merge_lists_replace_null_removes() {
        let mut base = json!({"a": {"x": 1, "y": 2}, "l": [1, 2], "gone": 1});
        merge(&mut base, &json!({"a": {"y": 3, "z": 4}, "l": [9], "gone": null}));
        assert_eq!(base, json!({"a": {"x": 1, "y": 3, "z": 4}, "l": [9]}));
    }
}
