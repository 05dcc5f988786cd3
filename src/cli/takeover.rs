//! `kmirror takeover --from-mm2`: kmirror's offset store starts where a stopped MirrorMaker 2
//! left each partition (see `crate::takeover`).

use std::path::Path;

use crate::offsets::FileStore;
use crate::takeover::{self, Decision, PartitionTakeover};

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The table, one line per partition.
pub(super) fn format_table(rows: &[PartitionTakeover]) -> String {
    let header = [
        "TOPIC",
        "PARTITION",
        "MM2 COMMITTED",
        "TARGET TOPIC",
        "TARGET END",
        "LAST WRITTEN",
        "RESUME AT",
        "MATCH",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let (last, resume, how) = match r.decision {
                Decision::Fresh => (
                    "-".to_owned(),
                    "-".to_owned(),
                    "nothing on the target: starts as new".to_owned(),
                ),
                Decision::Resume { resume, matched } => (
                    matched.last_source.to_string(),
                    resume.to_string(),
                    format!(
                        "last target record = source {}, {} records before it equal",
                        matched.last_source, matched.context
                    ),
                ),
            };
            [
                r.source_topic.clone(),
                r.partition.to_string(),
                opt(r.committed),
                r.target_topic.clone(),
                r.target_end.to_string(),
                last,
                resume,
                how,
            ]
        })
        .collect();
    super::table::render(header, &cells)
}

pub(super) async fn from_mm2(
    config_path: &Path,
    flow: Option<&str>,
    offsets_topic: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let flow = super::offsets::pick_flow(&config, flow)?;
    let offsets_topic = offsets_topic
        .map(str::to_owned)
        .unwrap_or_else(|| takeover::default_offsets_topic(&flow.source));
    // Locked before anything is read: kmirror must not be running on this state either.
    let mut store = if dry_run {
        None
    } else {
        Some(FileStore::open(&config.state_dir)?.with_max_history(config.offsets_history_max))
    };
    let source = super::offsets::connect(&config, &flow.source).await?;
    let target = super::offsets::connect(&config, &flow.target).await?;
    let planned = takeover::plan(flow, &source, &target, &offsets_topic).await;
    source.close().await;
    target.close().await;
    let planned = planned?;
    println!(
        "flow {}: MirrorMaker 2's positions from {offsets_topic} on cluster {}",
        flow.name(),
        flow.target
    );
    print!("{}", format_table(&planned));
    match store.as_mut() {
        None => println!("dry run: nothing written"),
        Some(store) => {
            let written = takeover::write(store, &flow.name(), &planned)?;
            println!(
                "{written} baseline(s) written to {}; start kmirror with: kmirror run --config {}",
                config.state_dir.join(crate::offsets::LOG_FILE).display(),
                config_path.display()
            );
        }
    }
    Ok(())
}
