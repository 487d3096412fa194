//! The prediction log: rows in, labels by id, windows out, retention.

use crate::{model, store};
use aiaas_store::Window;
use aiaas_types::{NewPrediction, TargetValue, Version};

fn row(id: &str, version: u32, at_ms: i64, class: &str) -> NewPrediction {
    NewPrediction {
        id: id.into(),
        model: model("m"),
        version: Version::new(version),
        at_ms,
        latency_us: 250,
        inputs: vec![1.5, f32::NAN, -2.0],
        categories: Some(vec!["red".into()]),
        predicted: TargetValue::Class(class.into()),
    }
}

#[tokio::test]
async fn rows_labels_and_windows() {
    let (store, _dir) = store().await;
    let m = model("m");
    let rows: Vec<_> = (0..10)
        .map(|i| row(&format!("r{i}"), 1 + (i % 2) as u32, 1_000 + i, "a"))
        .collect();
    store.insert_predictions(&rows).await.unwrap();

    let all = store.predictions(&m, &Window::default()).await.unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(all[0].id, "r0", "oldest first");
    assert_eq!(all[0].inputs[0], 1.5);
    assert!(all[0].inputs[1].is_nan());
    assert_eq!(all[0].categories.as_deref(), Some(&["red".to_string()][..]));
    assert_eq!(all[0].predicted, TargetValue::Class("a".into()));
    assert_eq!(all[0].label, None);

    let labels = vec![
        ("r1".to_string(), TargetValue::Class("b".into())),
        ("r2".to_string(), TargetValue::Class("a".into())),
        ("nope".to_string(), TargetValue::Class("a".into())),
    ];
    let done = store.label_predictions(&m, &labels).await.unwrap();
    assert_eq!(done.matched, 2);
    assert_eq!(done.unknown, vec!["nope".to_string()]);

    let labelled = Window {
        labelled: true,
        ..Window::default()
    };
    let got = store.predictions(&m, &labelled).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2"]);
    assert_eq!(got[0].label, Some(TargetValue::Class("b".into())));

    let v2_last3 = Window {
        version: Some(Version::new(2)),
        last: Some(3),
        ..Window::default()
    };
    let got = store.predictions(&m, &v2_last3).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r5", "r7", "r9"]);
    let v2_first2 = Window {
        version: Some(Version::new(2)),
        last: Some(2),
        oldest: true,
        ..Window::default()
    };
    let got = store.predictions(&m, &v2_first2).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r1", "r3"]);
    let since = Window {
        since_ms: Some(1_008),
        ..Window::default()
    };
    assert_eq!(store.predictions(&m, &since).await.unwrap().len(), 2);
    // Another model's window is empty.
    assert!(
        store
            .predictions(&model("other"), &Window::default())
            .await
            .unwrap()
            .is_empty()
    );

    // The same id again replaces the row (and its label).
    store
        .insert_predictions(&[row("r1", 1, 2_000, "c")])
        .await
        .unwrap();
    let all = store.predictions(&m, &Window::default()).await.unwrap();
    let r1 = all.iter().find(|r| r.id == "r1").unwrap();
    assert_eq!(
        (r1.predicted.clone(), r1.label.clone()),
        (TargetValue::Class("c".into()), None)
    );

    // Regression values round-trip.
    let mut value = row("v", 1, 3_000, "x");
    value.predicted = TargetValue::Value(2.5);
    value.categories = None;
    store.insert_predictions(&[value]).await.unwrap();
    store
        .label_predictions(&m, &[("v".into(), TargetValue::Value(3.0))])
        .await
        .unwrap();
    let last = store
        .predictions(
            &m,
            &Window {
                last: Some(1),
                ..Window::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(last[0].predicted, TargetValue::Value(2.5));
    assert_eq!(last[0].label, Some(TargetValue::Value(3.0)));
    assert_eq!(last[0].categories, None);
}

#[tokio::test]
async fn retention_drops_old_rows_then_keeps_the_newest_per_model() {
    let (store, _dir) = store().await;
    let mut rows: Vec<_> = (0..6)
        .map(|i| row(&format!("r{i}"), 1, 100 * i, "a"))
        .collect();
    let mut other = row("o", 1, 500, "a");
    other.model = model("n");
    rows.push(other);
    store.insert_predictions(&rows).await.unwrap();
    // r0 (at 0) and r1 (at 100) are too old; of r2..r5 the newest 2 stay.
    assert_eq!(store.prune_predictions(150, 2).await.unwrap(), 4);
    let left = store
        .predictions(&model("m"), &Window::default())
        .await
        .unwrap();
    let ids: Vec<&str> = left.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r4", "r5"]);
    assert_eq!(
        store
            .predictions(&model("n"), &Window::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn trimming_keeps_a_models_newest_rows_and_a_checkpoint_empties_the_wal() {
    let (store, dir) = store().await;
    let m = model("m");
    let rows: Vec<_> = (0..50)
        .map(|i| row(&format!("r{i}"), 1, 1_000 + i, "a"))
        .collect();
    store.insert_predictions(&rows).await.unwrap();
    assert_eq!(store.trim_predictions(&m, 20).await.unwrap(), 30);
    let kept = store.predictions(&m, &Window::default()).await.unwrap();
    assert_eq!(kept.len(), 20);
    assert_eq!(kept[0].id, "r30", "the newest are kept");
    assert_eq!(store.trim_predictions(&m, 20).await.unwrap(), 0);

    // SQLite's write-ahead log is copied back and emptied (PostgreSQL checkpoints by itself).
    assert!(store.checkpoint().await.unwrap());
    if !crate::on_postgres() {
        let wal = dir.path().join("aiaas.db-wal");
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    }
}
