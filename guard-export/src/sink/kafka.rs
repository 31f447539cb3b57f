//! Kafka sink (`kafka://broker:port[,broker:port]/topic[?partition=N]`) with rskafka, a
//! pure-Rust client, driven by a private current-thread tokio runtime so the sink fits the
//! thread-per-sink delivery. Each event is one record: key = event id, value = the OCSF
//! JSON, timestamp = the event time. The topic is created (1 partition) if missing.

use std::sync::Arc;
use std::time::Duration;

use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use serde_json::Value;

use super::{Sink, SinkError};

/// A Kafka sink's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Bootstrap brokers (`host:port`).
    pub brokers: Vec<String>,
    /// Topic.
    pub topic: String,
    /// Partition written to (default 0): one partition keeps the sink's order.
    pub partition: i32,
    /// Bound on one produce (connect, metadata and retries included; default 10 s).
    pub timeout: Duration,
}

/// A Kafka sink.
pub struct KafkaSink {
    cfg: KafkaConfig,
    rt: tokio::runtime::Runtime,
    client: Option<Arc<PartitionClient>>,
}

impl KafkaSink {
    /// Builds the sink (connects lazily).
    pub fn new(cfg: KafkaConfig) -> Result<Self, SinkError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(SinkError::Io)?;
        Ok(Self { cfg, rt, client: None })
    }
}

async fn connect(cfg: &KafkaConfig) -> Result<PartitionClient, String> {
    let backoff = rskafka::BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        // Short: the delivery worker does the real retrying, with its own backoff.
        deadline: Some(cfg.timeout.min(Duration::from_secs(2))),
    };
    let client: Client = ClientBuilder::new(cfg.brokers.clone())
        .client_id("guard")
        .backoff_config(backoff)
        .build()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let topics = client.list_topics().await.map_err(|e| format!("metadata: {e}"))?;
    if !topics.iter().any(|t| t.name == cfg.topic) {
        let ctl = client.controller_client().map_err(|e| e.to_string())?;
        if let Err(e) = ctl.create_topic(cfg.topic.clone(), cfg.partition + 1, 1, 5_000).await {
            // Someone else may have created it meanwhile.
            if !e.to_string().contains("TopicAlreadyExists") {
                return Err(format!("create topic {}: {e}", cfg.topic));
            }
        }
    }
    client.partition_client(cfg.topic.clone(), cfg.partition, UnknownTopicHandling::Retry).await.map_err(|e| format!("partition: {e}"))
}

impl Sink for KafkaSink {
    fn name(&self) -> String {
        format!("kafka://{}/{}", self.cfg.brokers.join(","), self.cfg.topic)
    }

    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SinkError> {
        let records: Vec<Record> = batch
            .iter()
            .map(|e| {
                let v: Value = serde_json::from_slice(e).unwrap_or(Value::Null);
                let ms = v["time"].as_i64().unwrap_or_else(|| jiff::Timestamp::now().as_millisecond());
                let ts = rskafka::chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
                Record {
                    key: v["metadata"]["uid"].as_str().map(|s| s.as_bytes().to_vec()),
                    value: Some(e.clone()),
                    headers: Default::default(),
                    timestamp: ts,
                }
            })
            .collect();
        let cfg = self.cfg.clone();
        let client = self.client.clone();
        let res = self.rt.block_on(async move {
            tokio::time::timeout(cfg.timeout, async {
                let client = match client {
                    Some(c) => c,
                    None => Arc::new(connect(&cfg).await?),
                };
                client.produce(records, Compression::NoCompression).await.map_err(|e| format!("produce: {e}"))?;
                Ok::<_, String>(client)
            })
            .await
            .unwrap_or_else(|_| Err("timed out".into()))
        });
        match res {
            Ok(c) => {
                self.client = Some(c);
                Ok(())
            }
            Err(e) => {
                self.client = None;
                Err(SinkError::Send(format!("{}: {e}", self.name())))
            }
        }
    }
}
