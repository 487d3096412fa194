//! Turning the server's JSON into compact text: defensive field lookup (a missing or null field
//! prints as `-`), number, size and time formatting; the cells of the tables in
//! [`crate::output::table`].

use serde_json::Value;

/// Printed for a missing field.
pub const NONE: &str = "-";

/// The value at a JSON pointer such as `/progress/epoch`, treating null as missing.
pub fn at<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    v.pointer(pointer).filter(|x| !x.is_null())
}

/// A value as one line of text: strings unquoted, other values as compact JSON.
pub fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => NONE.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A number with four decimals (integers as they are).
pub fn float(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) if n.is_f64() => format!("{:.4}", n.as_f64().unwrap_or(f64::NAN)),
        other => text(other),
    }
}

/// A byte count in KiB, MiB or GiB.
pub fn size(v: Option<&Value>) -> String {
    let Some(bytes) = v.and_then(Value::as_u64) else {
        return text(v);
    };
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut amount = bytes as f64;
    let mut unit = 0;
    while amount >= 1024.0 && unit + 1 < UNITS.len() {
        amount /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{amount:.1} {}", UNITS[unit])
    }
}

/// Milliseconds since the Unix epoch as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn time(v: Option<&Value>) -> String {
    let Some(ms) = v.and_then(Value::as_i64) else {
        return text(v);
    };
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's algorithm), to avoid a
/// date crate for one column.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// An alias map `{"champion": 3}` as `champion=3, ...`.
pub fn aliases(v: Option<&Value>) -> String {
    match v.and_then(Value::as_object) {
        Some(map) if !map.is_empty() => map
            .iter()
            .map(|(alias, version)| format!("{alias}={}", text(Some(version))))
            .collect::<Vec<_>>()
            .join(", "),
        Some(_) => NONE.to_string(),
        None => text(v),
    }
}

/// The headline figures of a version's metrics, from the test split if there is one, else the
/// validation or training split: `test accuracy 0.9667 f1_macro 0.9659`.
pub fn metrics(v: Option<&Value>) -> String {
    let Some(splits) = v.and_then(Value::as_object) else {
        return text(v);
    };
    let Some((split, figures)) = ["test", "val", "train"]
        .iter()
        .find_map(|s| splits.get(*s).map(|m| (*s, m)))
    else {
        return headline(v.expect("checked above")).unwrap_or_else(|| NONE.to_string());
    };
    match headline(figures) {
        Some(h) => format!("{split} {h}"),
        None => NONE.to_string(),
    }
}

/// `accuracy 0.9667 f1_macro 0.9659` or `r2 0.4512 rmse 53.1200` from one split's metrics.
pub fn headline(figures: &Value) -> Option<String> {
    const KEYS: [&str; 5] = ["accuracy", "f1_macro", "r2", "rmse", "mae"];
    let parts: Vec<String> = KEYS
        .iter()
        .filter_map(|k| {
            let x = figures.get(*k)?.as_f64()?;
            Some(format!("{k} {x:.4}"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Pretty JSON on standard output.
pub fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON values serialize")
    );
}

/// `v` as pretty JSON with `--json`, else as `human` prints it.
pub fn print(v: &Value, json: bool, human: impl FnOnce(&Value)) {
    if json {
        print_json(v);
    } else {
        human(v);
    }
}

/// The elements of a JSON array answer (an empty list for anything else).
pub fn items(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_fields_print_as_a_dash() {
        let v = json!({"a": null, "b": "x", "c": 3, "d": 0.5});
        assert_eq!(text(at(&v, "/a")), "-");
        assert_eq!(text(at(&v, "/zz")), "-");
        assert_eq!(text(at(&v, "/b")), "x");
        assert_eq!(text(at(&v, "/c")), "3");
        assert_eq!(float(at(&v, "/d")), "0.5000");
        assert_eq!(float(at(&v, "/c")), "3");
        assert_eq!(size(at(&v, "/b")), "x");
    }

    #[test]
    fn sizes_and_times_are_readable() {
        assert_eq!(size(Some(&json!(512))), "512 B");
        assert_eq!(size(Some(&json!(4608))), "4.5 KiB");
        assert_eq!(size(Some(&json!(3u64 << 30))), "3.0 GiB");
        assert_eq!(time(Some(&json!(0))), "1970-01-01 00:00:00");
        // 2024-02-29 12:34:56 UTC.
        assert_eq!(
            time(Some(&json!(1_709_210_096_000i64))),
            "2024-02-29 12:34:56"
        );
        assert_eq!(time(Some(&json!(-1000))), "1969-12-31 23:59:59");
    }

    #[test]
    fn metrics_show_the_test_split_headline() {
        let m = json!({
            "train": {"accuracy": 1.0},
            "test": {"accuracy": 0.96667, "f1_macro": 0.9, "per_class": []},
        });
        assert_eq!(metrics(Some(&m)), "test accuracy 0.9667 f1_macro 0.9000");
        let r = json!({"val": {"r2": 0.5, "rmse": 50.0, "mae": 40.0, "mse": 2500.0}});
        assert_eq!(metrics(Some(&r)), "val r2 0.5000 rmse 50.0000 mae 40.0000");
        assert_eq!(metrics(Some(&json!({"accuracy": 0.5}))), "accuracy 0.5000");
        assert_eq!(metrics(None), "-");
    }

    #[test]
    fn aliases_are_listed_by_name() {
        assert_eq!(
            aliases(Some(&json!({"champion": 3, "b": 1}))),
            "b=1, champion=3"
        );
    }
}
