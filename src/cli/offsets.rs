//! `kmirror offsets translate`: a group's committed source offsets, their exact target
//! offsets and the lag, read from the offset store of a running (or stopped) kmirror; with
//! `--commit`, the group offset sync done once, under the same rules as
//! `sync.group.offsets.enabled`.
//!
//! The store is read without taking its lock: a running kmirror holds it, and only appends
//! to or atomically replaces the log, so a read sees a prefix of it (a torn last frame is
//! ignored, as a restart would) and at worst a slightly older map.

use std::path::Path;

use crate::cluster::{Cluster, OffsetSpec};
use crate::config::{Config, FlowConfig};
use crate::offsets::groups::checkpoint::translate_group;
use crate::offsets::groups::sync_group;
use crate::offsets::{LOG_FILE, PartitionKey, Translation, TranslationView, decode_log};

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    pub(super) topic: String,
    pub(super) partition: i32,
    pub(super) committed: i64,
    pub(super) target_topic: String,
    /// `None` when no translation exists (see `note`).
    pub(super) target_offset: Option<i64>,
    pub(super) note: &'static str,
    /// Source end offset minus the committed offset.
    pub(super) lag: Option<i64>,
}

fn note(t: Option<Translation>) -> &'static str {
    match t {
        None => "not replicated yet",
        Some(Translation::Exact(_)) => "exact",
        Some(Translation::NextRecord(_)) => "next replicated record",
        Some(Translation::BatchStart(_)) => "start of compacted batch",
        Some(Translation::Ahead) => "ahead of replication",
        Some(Translation::Forgotten) => "before the kept history",
    }
}

/// The table, columns aligned.
pub(super) fn format_table(rows: &[Row]) -> String {
    let header = [
        "TOPIC",
        "PARTITION",
        "COMMITTED",
        "TARGET TOPIC",
        "TARGET OFFSET",
        "LAG",
        "TRANSLATION",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
            [
                r.topic.clone(),
                r.partition.to_string(),
                r.committed.to_string(),
                r.target_topic.clone(),
                opt(r.target_offset),
                opt(r.lag),
                r.note.to_owned(),
            ]
        })
        .collect();
    super::table::render(header, &cells)
}

pub(super) fn pick_flow<'a>(config: &'a Config, flow: Option<&str>) -> anyhow::Result<&'a FlowConfig> {
    let names = || {
        config
            .flows
            .iter()
            .map(FlowConfig::name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match flow {
        Some(name) => config
            .flows
            .iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| anyhow::anyhow!("--flow {name}: no such enabled flow (flows: {})", names())),
        None => match config.flows.as_slice() {
            [only] => Ok(only),
            [] => anyhow::bail!("the configuration enables no flow"),
            _ => anyhow::bail!("several flows ({}): choose one with --flow SRC->TGT", names()),
        },
    }
}

/// Reads the store's log without locking it.
fn read_view(state_dir: &Path, flow: &str, max_history: usize) -> anyhow::Result<TranslationView> {
    let path = state_dir.join(LOG_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the offset store {}: {e} (has kmirror run with this state_dir?)",
            path.display()
        )
    })?;
    let decoded = decode_log(&bytes, max_history).map_err(|e| e.in_file(&path))?;
    let states = decoded
        .states
        .into_iter()
        .filter(|(k, _)| k.flow == flow)
        .collect();
    Ok(TranslationView::new(&states, max_history))
}

pub(super) async fn connect(config: &Config, alias: &str) -> anyhow::Result<std::sync::Arc<Cluster>> {
    let c = config
        .cluster(alias)
        .ok_or_else(|| anyhow::anyhow!("cluster {alias} is not configured"))?;
    Ok(Cluster::bootstrap(alias, &c.bootstrap_servers, c.client.clone()).await?)
}

pub(super) async fn translate(
    config_path: &Path,
    group: &str,
    flow: Option<&str>,
    commit: bool,
) -> anyhow::Result<()> {
    let config = super::load(config_path)?;
    let flow = pick_flow(&config, flow)?;
    let view = read_view(&config.state_dir, &flow.name(), config.offsets_history_max)?;
    let source = connect(&config, &flow.source).await?;
    let committed = source.committed_offsets(group).await?;
    for e in &committed.failed {
        println!("warning: {e}");
    }
    let mut offsets = committed.offsets;
    offsets.retain(|o| flow.replicates(&o.topic));
    offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    anyhow::ensure!(
        !offsets.is_empty(),
        "group {group} has no committed offsets on topics flow {} replicates",
        flow.name()
    );
    let mut rows = Vec::new();
    for o in &offsets {
        let translation = view.translate(
            &PartitionKey::new(flow.name(), o.topic.as_str(), o.partition),
            o.offset,
        );
        let end = source
            .list_offset(&o.topic, o.partition, OffsetSpec::Latest)
            .await;
        rows.push(Row {
            topic: o.topic.clone(),
            partition: o.partition,
            committed: o.offset,
            target_topic: flow.target_topic(&o.topic),
            target_offset: translation.and_then(Translation::offset),
            note: note(translation),
            lag: end.ok().map(|e| e.saturating_sub(o.offset).max(0)),
        });
    }
    println!("group {group}, flow {}", flow.name());
    print!("{}", format_table(&rows));
    if commit {
        let target = connect(&config, &flow.target).await?;
        let checkpoints = translate_group(flow, &view, group, &offsets).checkpoints;
        let report = sync_group(&target, group, &checkpoints).await?;
        if let Some((state, members)) = report.active {
            anyhow::bail!(
                "group {group} is {state} with {members} member(s) on cluster {}: not committed (stop its consumers first)",
                flow.target
            );
        }
        for (topic, partition, offset) in &report.committed {
            println!("committed {topic}-{partition} at {offset}");
        }
        for a in &report.ahead {
            println!(
                "skipped {}-{}: the target group is at {}, past the translation {} (never rewound)",
                a.topic, a.partition, a.target, a.translated
            );
        }
        if report.unchanged > 0 {
            println!(
                "{} partition(s) already at the translated offset",
                report.unchanged
            );
        }
        for e in &report.failed {
            println!("failed: {e}");
        }
        target.close().await;
        anyhow::ensure!(report.failed.is_empty(), "the commit failed for some partitions");
    }
    source.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_aligned() {
        let rows = [
            Row {
                topic: "orders".to_owned(),
                partition: 0,
                committed: 1234,
                target_topic: "A.orders".to_owned(),
                target_offset: Some(1200),
                note: "exact",
                lag: Some(6),
            },
            Row {
                topic: "o".to_owned(),
                partition: 11,
                committed: 5,
                target_topic: "A.o".to_owned(),
                target_offset: None,
                note: "ahead of replication",
                lag: None,
            },
        ];
        let text = format_table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "TOPIC   PARTITION  COMMITTED  TARGET TOPIC  TARGET OFFSET  LAG  TRANSLATION"
        );
        assert_eq!(
            lines[1],
            "orders          0       1234  A.orders               1200    6  exact"
        );
        assert_eq!(
            lines[2],
            "o              11          5  A.o                       -    -  ahead of replication"
        );
    }
}
